"""The `fake` provider (`RUNWARE_MODE=fake`): Runware's async shape without any external call.

`submit` answers `pending("fake-<uuid5(idempotency_key)>")`, as an async Runware ack would,
and `poll` answers `succeeded` with a real image, `cost_micros=0` and `metrics={"fake": 1.0}`.

The image: `submit` computes a stylized copy of the input (`enhance.stylize`, "enhance" at
the request's strength) in the requested format and keeps it in a small in-process table.
Submit and poll often run in different processes (the API submits, a worker polls), so a
job this process has not seen is answered with a generated picture labelled "FAKE",
derived from the job id alone (WEBP). Both are deterministic; nothing touches the network.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict

from PIL import Image, ImageDraw

from aiimage.imaging import enhance, webp
from aiimage.providers.base import GenerationRequest, Outcome, ProviderRejectedError

JOB_PREFIX = "fake-"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "aiimage:fake-provider")
MAX_REMEMBERED = 64  # finished images kept for this process's polls
DEFAULT_STRENGTH = 0.6
LABEL_SIZE = (256, 256)


def job_id_for(idempotency_key: str | None) -> str:
    key = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
    return f"{JOB_PREFIX}{uuid.uuid5(NAMESPACE, key)}"


def labelled_image(job_id: str) -> Image.Image:
    """A picture that says FAKE on a background colour derived from the job id."""
    digest = hashlib.sha256(job_id.encode()).digest()
    image = Image.new("RGB", LABEL_SIZE, (digest[0], digest[1], digest[2]))
    draw = ImageDraw.Draw(image)
    draw.rectangle((16, 96, 240, 160), fill=(255, 255, 255))
    draw.text((104, 120), "FAKE", fill=(0, 0, 0))
    return image


class FakeProvider:
    name = "fake"

    def __init__(self) -> None:
        self._results: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, request: GenerationRequest) -> Outcome:
        job_id = job_id_for(request.idempotency_key)
        strength = DEFAULT_STRENGTH if request.params.strength is None else request.params.strength
        try:
            source = webp.decode(request.image.data)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ProviderRejectedError(
                "The fake provider could not decode the image", code="image_undecodable"
            ) from exc
        styled = enhance.stylize(source, "enhance", min(max(strength, 0.0), 1.0))
        result = (
            webp.encode(styled, request.output_format),
            webp.CONTENT_TYPES[request.output_format],
        )
        with self._lock:
            self._results[job_id] = result
            self._results.move_to_end(job_id)
            while len(self._results) > MAX_REMEMBERED:
                self._results.popitem(last=False)
        return Outcome.pending(job_id)

    def poll(self, job_id: str) -> Outcome:
        if not job_id.startswith(JOB_PREFIX):
            raise ProviderRejectedError("Not a fake job", code="provider_job_unknown")
        with self._lock:
            result = self._results.get(job_id)
        if result is None:
            result = (webp.encode(labelled_image(job_id), "WEBP"), "image/webp")
        data, content_type = result
        return Outcome(
            "succeeded",
            image=data,
            content_type=content_type,
            job_id=job_id,
            cost_micros=0,
            metrics={"fake": 1.0},
        )

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self._results.pop(job_id, None)
