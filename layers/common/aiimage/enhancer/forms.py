"""The multipart form that generate and job creation share."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from aiimage.enhancer.model_catalog import DEFAULT_MODEL, GenerateParams


class GenerateForm(GenerateParams):
    """The multipart fields besides the file, named as the seed system's clients send them."""

    # The model and its settings (GenerateParams), and a direct upload's key instead of a file.

    model_config = ConfigDict(populate_by_name=True)

    model: str = Field(default=DEFAULT_MODEL, max_length=200)
    upload_key: str | None = Field(default=None, alias="uploadKey", max_length=512)

    def requested(self) -> GenerateParams:
        return GenerateParams(**self.model_dump(exclude={"upload_key"}))
