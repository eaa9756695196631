"""Peak memory (RSS) of a generate at the upload limits: a 10 MiB, 40-megapixel JPEG sent
as a direct upload, enhanced by the local provider, stored as WebP; against the bare
FastAPI + Mangum handler, and against a generate of a small photo, in the same run.

Each case runs in its own fresh interpreter (`--child`) that imports the handler, invokes
it once and reports its peak resident set (`VmHWM`), the number Lambda's "Max Memory
Used" reports. moto runs as a server in the parent, so the objects it holds
are not counted against the function.

    python -m bench.peak_rss
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAMBDA_MEMORY_MB = 512
WIDTH, HEIGHT = 7296, 5472  # 39.9 MP, just under the 40 MP cap
MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Peak:
    label: str
    after_import_mb: float
    peak_mb: float
    detail: str


def _maxrss_mb() -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and
    # exec, so a child started by a big parent would report the parent's peak.
    try:
        with Path("/proc/self/status").open() as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- the child: one case in a fresh interpreter ---------------------------------------------


def child(case: str, guest_cookie: str, upload_key: str) -> None:
    from bench.events import Handler, http_event, multipart, quiet_invoke, small_jpeg

    if case == "sanitize-40mp":
        # What every upload gets before any provider: decode, EXIF rotation, re-encode.
        from aiimage.imaging.validation import sanitize
        from aiimage.storage.objects import object_store

        data = object_store().read(upload_key)
        after_import = _maxrss_mb()
        sanitize(data, max_bytes=MAX_BYTES, max_pixels=40_000_000)
        print(json.dumps({"after_import_mb": after_import, "peak_mb": _maxrss_mb(), "status": 200}))
        return
    if case == "pillow-40mp":
        # The floor of any re-encoding pipeline: Pillow decode + JPEG encode, no handler.
        from aiimage.storage.objects import object_store
        from bench.image_pipeline import baseline

        data = object_store().read(upload_key)
        after_import = _maxrss_mb()
        baseline(data)
        print(json.dumps({"after_import_mb": after_import, "peak_mb": _maxrss_mb(), "status": 200}))
        return
    handler: Handler
    if case == "baseline":
        from bench.baseline_app import handler as baseline_handler

        handler = baseline_handler
        event = http_event("GET", "/bench/ping")
    else:
        from generate_api.app import handler as generate_handler

        handler = generate_handler
        fields = {"model": "@cf/runwayml/stable-diffusion-v1-5-img2img"}
        files: dict[str, tuple[str, bytes, str]] = {}
        if case == "generate-small":
            files["image"] = ("photo.jpg", small_jpeg(), "image/jpeg")
        else:
            fields["uploadKey"] = upload_key
        body, content_type = multipart(fields, files)
        event = http_event(
            "POST",
            "/api/ai-image/generate",
            guest=guest_cookie,
            body=body,
            content_type=content_type,
        )
        del body
    after_import = _maxrss_mb()
    response = quiet_invoke(handler, event)
    print(
        json.dumps(
            {
                "after_import_mb": after_import,
                "peak_mb": _maxrss_mb(),
                "status": response["statusCode"],
                "body": response.get("body", "")[:200] if response["statusCode"] != 200 else "",
            }
        )
    )


# --- the parent ---------------------------------------------------------------------------


def big_photo() -> bytes:
    """The largest upload the limits admit: 39.9 MP, at most 10 MiB (quality lowered until
    it fits)."""
    import io

    from PIL import Image

    from bench.image_pipeline import make_photo

    data = make_photo(WIDTH, HEIGHT)
    quality = 90
    while len(data) > MAX_BYTES:
        quality -= 3
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=quality, exif=exif)
        data = buffer.getvalue()
    return data


def _run_child(
    case: str, env: dict[str, str], guest_cookie: str, upload_key: str
) -> dict[str, object]:
    done = subprocess.run(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-m", "bench.peak_rss", "--child", case, guest_cookie, upload_key],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"after_import_mb"')]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{case} failed: {done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(lines[-1])
    if result["status"] != 200:
        raise RuntimeError(f"{case}: status {result['status']}: {result['body']}")
    return result


def measure() -> tuple[list[Peak], int]:
    from moto.server import ThreadedMotoServer

    from aiimage.identity import guest, new_guest_id, sign_guest_id
    from aiimage.storage.keys import new_key
    from aiimage.storage.objects import object_store
    from bench.stack import ENDPOINT_VARIABLE, bench_environment, create_stack, reset_caches

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    previous = os.environ.get("AWS_ENDPOINT_URL")
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        reset_caches()
        create_stack()
        photo = big_photo()
        guest_id = new_guest_id()
        upload = new_key("uploads", guest(guest_id), "image/jpeg")
        object_store().put(upload, photo, "image/jpeg")
        cookie = sign_guest_id(guest_id)

        env = bench_environment()
        env["AWS_ENDPOINT_URL"] = env[ENDPOINT_VARIABLE] = endpoint
        env["PYTHONPATH"] = os.pathsep.join(
            str(ROOT / p) for p in ("layers/common", "functions", ".")
        )
        cases = (
            ("baseline", "baseline: bare FastAPI + Mangum, GET → JSON"),
            ("generate-small", "generate, 512x384 JPEG inline"),
            ("pillow-40mp", "the same 40 MP JPEG: Pillow decode + JPEG q95 encode only"),
            ("sanitize-40mp", "the same 40 MP JPEG: `sanitize` only (decode, rotate, encode)"),
            ("generate-40mp", f"generate, {WIDTH}x{HEIGHT} JPEG direct upload"),
        )
        peaks = []
        for case, label in cases:
            # A new guest for the small case: the big one uses the upload's owner.
            who = cookie if case == "generate-40mp" else sign_guest_id(new_guest_id())
            result = _run_child(case, env, who, str(upload))
            peaks.append(
                Peak(
                    label,
                    float(str(result["after_import_mb"])),
                    float(str(result["peak_mb"])),
                    case,
                )
            )
        return peaks, len(photo)
    finally:
        if previous is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = previous
        reset_caches()
        server.stop()


def generate_memory_mb() -> int:
    from infra.template import load_template

    resource = load_template().resources["GenerateApiFunction"]
    return int(resource.properties.get("MemorySize", LAMBDA_MEMORY_MB))


def render(peaks: Sequence[Peak], photo_bytes: int) -> str:
    base = peaks[0].peak_mb
    lines = [
        f"Input of the big case: {WIDTH}x{HEIGHT} ({WIDTH * HEIGHT / 1e6:.1f} MP), "
        f"{photo_bytes / 1024 / 1024:.2f} MiB JPEG with EXIF orientation 6.",
        "",
        "| case | RSS after import MiB | peak RSS MiB | vs baseline | of a 512 MB function |",
        "|---|--:|--:|--:|--:|",
    ]
    for p in peaks:
        lines.append(
            f"| {p.label} | {p.after_import_mb:.0f} | {p.peak_mb:.0f} | {p.peak_mb / base:.2f}x | "
            f"{p.peak_mb / LAMBDA_MEMORY_MB:.0%} |"
        )
    biggest = peaks[-1].peak_mb
    verdict = "fits" if biggest < LAMBDA_MEMORY_MB else "does NOT fit"
    configured = generate_memory_mb()
    lines += [
        "",
        f"The 40 MP generate peaks at {biggest:.0f} MiB: it {verdict} a {LAMBDA_MEMORY_MB} MB "
        f"function ({biggest / LAMBDA_MEMORY_MB:.2f}x of it). `GenerateApiFunction` is "
        f"configured with {configured} MB in `template.yaml` "
        f"({biggest / configured:.0%} of it used).",
    ]
    return "\n".join(lines)


HEADER = """\
## Peak memory of a generate at the limits (`bench/peak_rss.py`)

The largest image the limits admit (10 MiB, 40 MP, sent as a direct upload) through the
real generate handler: read from the bucket, sanitised (decode, EXIF rotation, re-encode),
stored, enhanced by the `local` provider (in-process Pillow; a remote provider needs less
memory in the function), encoded as WebP and stored. Each case runs in a fresh
interpreter that invokes the handler once and reports its peak resident set (`VmHWM`),
what Lambda reports as "Max Memory Used"; moto runs as a server in another process.
Baselines from the same run: the bare FastAPI + Mangum handler, a generate of a small
photo, and plain Pillow decoding and re-encoding the same 40 MP file (the floor of any
pipeline that re-encodes: one 40 MP RGB image is 120 MB)."""


NOTES = """\
Reading: one 40 MP RGB image is 120 MB, and the 10 MiB upload and its sanitised JPEG are
held as bytes as well. Plain Pillow needs one decoded copy; `sanitize` needs two at its
peak (the decoded photo and its rotated copy, orientation 6 being what phones write);
the generate then decodes the sanitised original again for the provider and the WebP
encode, and the `local` provider's enhancement makes further full-size copies in the
function itself. A remote provider (Workers AI, Replicate) does that work outside the
function, so the `sanitize` row is closer to a production generate's floor. A 512 MB
function is therefore too small for uploads at the limits; `template.yaml` gives the
generate function 2048 MB, which also buys the CPU share that the WebP encode needs (see
the image pipeline above)."""


def run() -> str:
    peaks, size = measure()
    return "\n\n".join([HEADER, render(peaks, size), NOTES])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peak_rss")
    parser.add_argument("--child", nargs=3, metavar=("CASE", "GUEST", "UPLOAD_KEY"))
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return
    peaks, size = measure()
    print(render(peaks, size))


if __name__ == "__main__":
    main()
