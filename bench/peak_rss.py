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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.child import run_child

ROOT = Path(__file__).resolve().parents[1]
LAMBDA_MEMORY_MB = 512
WIDTH, HEIGHT = 7296, 5472  # 39.9 MP, just under the 40 MP cap
MAX_BYTES = 10 * 1024 * 1024
# The largest upscale the output cap (64 MP) admits: 16 MP, 2x.
UPSCALE_SIDE = 4000
DISPLAY_TARGET_MIB = 100  # issue 18: the display copy of a 40 MP photo
STYLE_MODEL = "@cf/runwayml/stable-diffusion-v1-5-img2img"  # `local` route: style:enhance
UPSCALE_MODEL = "nightmareai/real-esrgan"  # `local` route: upscale


@dataclass(frozen=True, slots=True)
class Peak:
    label: str
    after_import_mb: float
    peak_mb: float
    detail: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the instrumented 40 MP generate: RSS when it starts, its own peak."""

    name: str
    rss_before_mb: float
    peak_mb: float


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


def _rss_mb() -> float:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> bool:
    """Restart VmHWM at the current RSS (Linux `clear_refs` 5), so that a step's own peak
    can be read after it; False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# The steps of a generate, in order, as module attributes the code looks up at call time.
STEPS = (
    ("aiimage.enhancer.intake", "_read_upload", "read the upload from the bucket"),
    ("aiimage.imaging.validation", "sanitize", "`sanitize` (decode, EXIF rotation, JPEG q95)"),
    ("aiimage.imaging.webp", "decode", "provider: decode the sanitised original"),
    ("aiimage.imaging.enhance", "stylize", "provider: style `enhance`, in place, in bands"),
    ("aiimage.imaging.webp", "encode", "provider: WebP q90 encode"),
    ("aiimage.enhancer.generate", "store_result", "store the result"),
)


def _instrument(steps: list[dict[str, float | str]]) -> None:
    import functools
    import importlib

    for module_name, attribute, label in STEPS:
        module = importlib.import_module(module_name)
        original = getattr(module, attribute, None)
        if original is None:  # renamed: the step is left out, the run still counts
            continue

        def step(*args: object, _f: object = original, _label: str = label, **kw: object) -> object:
            before = _rss_mb()
            _reset_peak()
            try:
                return _f(*args, **kw)  # type: ignore[operator]
            finally:
                steps.append({"step": _label, "rss_before_mb": before, "peak_mb": _maxrss_mb()})

        setattr(module, attribute, functools.wraps(original)(step))


# --- the child: one case in a fresh interpreter ---------------------------------------------


def _report(after_import: float, started: float, *, status: int = 200, **extra: object) -> None:
    seconds = time.perf_counter() - started
    peak = _maxrss_mb()
    print(
        json.dumps(
            {
                "after_import_mb": after_import,
                "peak_mb": peak,
                "seconds": seconds,
                "status": status,
                **extra,
            }
        )
    )


def child(case: str, guest_cookie: str, upload_key: str) -> None:
    from bench.events import Handler, http_event, multipart, quiet_invoke, small_jpeg

    if case == "sanitize-40mp":
        # What every upload gets before any provider: decode, EXIF rotation, re-encode.
        from aiimage.imaging.validation import sanitize
        from aiimage.storage.objects import object_store

        data = object_store().read(upload_key)
        after_import = _maxrss_mb()
        started = time.perf_counter()
        sanitize(data, max_bytes=MAX_BYTES, max_pixels=40_000_000)
        _report(after_import, started)
        return
    if case == "pillow-40mp":
        # The floor of any re-encoding pipeline: Pillow decode + JPEG encode, no handler.
        from aiimage.storage.objects import object_store
        from bench.image_pipeline import baseline

        data = object_store().read(upload_key)
        after_import = _maxrss_mb()
        started = time.perf_counter()
        baseline(data)
        _report(after_import, started)
        return
    if case == "webp-rgba-40mp":
        # A 40 MP result with transparency (an RGBA PNG or WebP upload keeps its alpha):
        # the WebP encode, whose lossless coder for the alpha plane needs the most.
        from PIL import Image

        from aiimage.imaging import webp
        from aiimage.storage.objects import object_store

        data = object_store().read(upload_key)
        after_import = _maxrss_mb()
        started = time.perf_counter()
        image = webp.decode(data)
        image.putalpha(Image.linear_gradient("L").resize(image.size))
        webp.encode(image, "WEBP", quality=90, release=True)
        _report(after_import, started)
        return
    if case == "watermark-40mp":
        # What an edit worker does with a provider's result (`edits.runner.store_result`):
        # decode, the event's watermark, WebP encode; here a 40 MP result, a `local` style's.
        from aiimage.edits.models import Watermark
        from aiimage.imaging import webp
        from aiimage.imaging.watermark import apply_watermark
        from aiimage.storage.objects import object_store

        data = object_store().read(upload_key)
        after_import = _maxrss_mb()
        started = time.perf_counter()
        marked = apply_watermark(
            webp.decode(data), Watermark(text="Summer party 2026"), in_place=True
        )
        webp.encode(marked, "WEBP", quality=90, release=True)
        _report(after_import, started)
        return
    if case.startswith("display-"):
        _display_copy(case, upload_key)
        return
    handler: Handler
    steps: list[dict[str, float | str]] = []
    if case == "generate-40mp-steps":
        if not _reset_peak():
            _report(0.0, time.perf_counter(), steps=[])
            return
        _instrument(steps)
    if case == "baseline":
        from bench.baseline_app import handler as baseline_handler

        handler = baseline_handler
        event = http_event("GET", "/bench/ping")
    else:
        from generate_api.app import handler as generate_handler

        handler = generate_handler
        fields = {"model": STYLE_MODEL}
        files: dict[str, tuple[str, bytes, str]] = {}
        if case == "generate-upscale":
            fields = {"model": UPSCALE_MODEL, "scale": "2", "uploadKey": upload_key}
        elif case == "generate-small":
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
    started = time.perf_counter()
    response = quiet_invoke(handler, event)
    status = response["statusCode"]
    answer = response.get("body", "")[:200] if status != 200 else ""
    _report(after_import, started, status=status, body=answer, steps=steps)


def _display_copy(case: str, upload_key: str) -> None:
    """What `complete` does with a guest photo after sanitising it: the gallery's 1600 px
    WebP with the event's watermark (`edits.photos.display_copy`); `display-full-40mp` is
    the same copy made from a full decode, as before the reduced JPEG decode."""
    from aiimage.edits.models import Event, EventAiEditing, Watermark
    from aiimage.edits.photos import DISPLAY_MAX_SIDE, DISPLAY_QUALITY, display_copy
    from aiimage.edits.watermarking import watermark_for_event
    from aiimage.imaging import webp
    from aiimage.storage.objects import object_store

    event = Event(
        event_id="evt-bench",
        tenant_id="bench",
        slug="bench",
        join_token="bench-join-token",  # noqa: S106 -- an event's name in a benchmark
        name="Bench",
        ai_editing=EventAiEditing(watermark=Watermark(enabled=True, text="Summer party 2026")),
    )
    data = object_store().read(upload_key)
    after_import = _maxrss_mb()
    started = time.perf_counter()
    if case == "display-full-40mp":
        image = webp.decode(data)
        image.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE))
        marked = watermark_for_event(event, image, in_place=True)
        webp.encode(marked, "WEBP", quality=DISPLAY_QUALITY, release=True)
    else:
        display_copy(event, data)
    _report(after_import, started)


# --- the parent ---------------------------------------------------------------------------


def big_photo(width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """The largest upload the limits admit: 39.9 MP, at most 10 MiB (quality lowered until
    it fits)."""
    import io

    from PIL import Image

    from bench.image_pipeline import make_photo

    data = make_photo(width, height)
    quality = 90
    while len(data) > MAX_BYTES:
        quality -= 3
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=quality, exif=exif)
        data = buffer.getvalue()
    return data


def _webp(photo: bytes) -> bytes:
    """`photo` as a provider's 40 MP WebP result (made here, outside the measured child)."""
    from aiimage.imaging import webp

    return webp.encode(webp.decode(photo), "WEBP", quality=90, release=True)


def _published(photo: bytes) -> bytes:
    """`photo` as `complete` publishes it: sanitised (upright, JPEG q95)."""
    from aiimage.imaging.validation import sanitize

    return sanitize(photo, max_bytes=len(photo), max_pixels=40_000_000).data


def _png(photo: bytes) -> bytes:
    """`photo` as a 40 MP PNG (fast compression: the decode costs the same)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    with Image.open(io.BytesIO(photo)) as image:
        image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _run_child(
    case: str, env: dict[str, str], guest_cookie: str, upload_key: str
) -> dict[str, object]:
    result = run_child(
        "bench.peak_rss", [case, guest_cookie, upload_key], marker='{"after_import_mb"', env=env
    )
    if result["status"] != 200:
        raise RuntimeError(f"{case}: status {result['status']}: {result['body']}")
    return result


@dataclass(frozen=True, slots=True)
class Measured:
    peaks: list[Peak]
    steps: list[Step]
    photo_bytes: int
    upscale_bytes: int


def measure() -> Measured:
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
        upscale_photo = big_photo(UPSCALE_SIDE, UPSCALE_SIDE)

        provider_result = _webp(photo)
        published = _published(photo)
        published_png = _png(photo)

        def upload(data: bytes) -> tuple[str, str]:
            """A new guest's cookie and the key of its direct upload of `data` (a generate
            deletes the upload it used, so each case gets its own)."""
            guest_id = new_guest_id()
            content_type = {id(provider_result): "image/webp", id(published_png): "image/png"}.get(
                id(data), "image/jpeg"
            )
            key = new_key("uploads", guest(guest_id), content_type)
            object_store().put(key, data, content_type)
            return sign_guest_id(guest_id), str(key)

        env = bench_environment()
        env["AWS_ENDPOINT_URL"] = env[ENDPOINT_VARIABLE] = endpoint
        env["PYTHONPATH"] = os.pathsep.join(
            str(ROOT / p) for p in ("layers/common", "functions", ".")
        )
        big = f"{WIDTH}x{HEIGHT} JPEG direct upload"
        cases = (
            ("baseline", "baseline: bare FastAPI + Mangum, GET → JSON", None),
            ("generate-small", "generate, 512x384 JPEG inline", None),
            (
                "pillow-40mp",
                "the same 40 MP JPEG: Pillow decode + JPEG q95 encode only",
                photo,
            ),
            (
                "sanitize-40mp",
                "the same 40 MP JPEG: `sanitize` only (decode, rotate, encode)",
                photo,
            ),
            (
                "generate-upscale",
                f"generate {UPSCALE_MODEL} 2x, {UPSCALE_SIDE}x{UPSCALE_SIDE} (16 MP) → 64 MP "
                "(`local` upscale, the output cap)",
                upscale_photo,
            ),
            ("generate-40mp", f"generate {STYLE_MODEL}, {big}", photo),
            (
                "webp-rgba-40mp",
                "a 40 MP result with transparency: decode, graded alpha, WebP encode only",
                photo,
            ),
            (
                "watermark-40mp",
                "an edit worker storing a 40 MP result: decode WebP, text watermark, WebP encode",
                provider_result,
            ),
            (
                "display-full-40mp",
                "a guest photo's display copy from the sanitised 40 MP JPEG, full decode (before)",
                published,
            ),
            (
                "display-40mp",
                "a guest photo's display copy from the sanitised 40 MP JPEG "
                "(`display_copy`: reduced decode)",
                published,
            ),
            (
                "display-40mp-png",
                "a guest photo's display copy from a 40 MP PNG (no reduced decode)",
                published_png,
            ),
            (
                "display-40mp-webp",
                "a guest photo's display copy from a 40 MP WebP (no reduced decode)",
                provider_result,
            ),
        )
        peaks = []
        for case, label, data in cases:
            who, key = upload(data) if data is not None else (sign_guest_id(new_guest_id()), "-")
            result = _run_child(case, env, who, key)
            peaks.append(
                Peak(
                    label,
                    float(str(result["after_import_mb"])),
                    float(str(result["peak_mb"])),
                    case,
                    float(str(result["seconds"])),
                )
            )
        who, key = upload(photo)
        traced = _run_child("generate-40mp-steps", env, who, key)
        raw_steps = traced.get("steps")
        steps = [
            Step(str(s["step"]), float(s["rss_before_mb"]), float(s["peak_mb"]))
            for s in (raw_steps if isinstance(raw_steps, list) else [])
        ]
        return Measured(peaks, steps, len(photo), len(upscale_photo))
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


def render(measured: Measured) -> str:
    peaks = measured.peaks
    base = peaks[0].peak_mb
    lines = [
        f"Input of the big case: {WIDTH}x{HEIGHT} ({WIDTH * HEIGHT / 1e6:.1f} MP), "
        f"{measured.photo_bytes / 1024 / 1024:.2f} MiB JPEG with EXIF orientation 6; of the "
        f"upscale: {UPSCALE_SIDE}x{UPSCALE_SIDE}, {measured.upscale_bytes / 1024 / 1024:.2f} MiB.",
        "",
        "| case | RSS after import MiB | peak RSS MiB | vs baseline | of a 512 MB function "
        "| handler s (this machine) |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for p in peaks:
        lines.append(
            f"| {p.label} | {p.after_import_mb:.0f} | {p.peak_mb:.0f} | {p.peak_mb / base:.2f}x | "
            f"{p.peak_mb / LAMBDA_MEMORY_MB:.0%} | {p.seconds:.1f} |"
        )
    if measured.steps:
        lines += [
            "",
            "Where the 40 MP generate's memory goes (the same request again, each step "
            "wrapped: RSS when it starts, and its own peak, `VmHWM` restarted at the step's "
            "start through `/proc/self/clear_refs`):",
            "",
            "| step | RSS at start MiB | peak during the step MiB |",
            "|---|--:|--:|",
        ]
        lines += [f"| {s.name} | {s.rss_before_mb:.0f} | {s.peak_mb:.0f} |" for s in measured.steps]
    by_case = {p.detail: p for p in peaks}
    biggest = by_case["generate-40mp"].peak_mb
    upscale = by_case["generate-upscale"].peak_mb
    marked = by_case["watermark-40mp"].peak_mb
    transparent = by_case["webp-rgba-40mp"].peak_mb
    display, display_full = by_case["display-40mp"], by_case["display-full-40mp"]

    def own(peak: Peak) -> float:
        return peak.peak_mb - peak.after_import_mb

    display_verdict = "met" if own(display) <= DISPLAY_TARGET_MIB else "**not met**"
    display_png, display_webp = by_case["display-40mp-png"], by_case["display-40mp-webp"]
    configured = generate_memory_mb()
    lines += [
        "",
        f"The 40 MP generate peaks at {biggest:.0f} MiB: it {_fits(biggest)} a "
        f"{LAMBDA_MEMORY_MB} MB function ({biggest / LAMBDA_MEMORY_MB:.2f}x of it). The "
        f"upscale to the 64 MP output cap peaks at {upscale:.0f} MiB: it {_fits(upscale)} "
        f"a {LAMBDA_MEMORY_MB} MB function. `GenerateApiFunction` is configured with "
        f"{configured} MB in `template.yaml` ({biggest / configured:.0%} of it used by the "
        f"40 MP generate, {upscale / configured:.0%} by the upscale). An edit worker "
        f"storing a 40 MP result peaks at {marked:.0f} MiB: it {_fits(marked)} a "
        f"{LAMBDA_MEMORY_MB} MB function. The encode of a 40 MP result with transparency "
        f"peaks at {transparent:.0f} MiB: it {_fits(transparent)} one.",
        "",
        f"A guest photo's display copy at 40 MP (`edits.photos.display_copy`, from the "
        f"sanitised JPEG) needs {own(display):.0f} MiB above the RSS it starts at (target: "
        f"at most {DISPLAY_TARGET_MIB} MiB, {display_verdict}); "
        f"the process peaks at {display.peak_mb:.0f} MiB, the interpreter, the imports and "
        f"the input's bytes included. Made from a full decode as before: "
        f"{own(display_full):.0f} MiB ({own(display) / own(display_full):.2f}x of it), in "
        f"{display_full.seconds:.2f} s against {display.seconds:.2f} s "
        f"({display.seconds / display_full.seconds:.2f}x). PNG and WebP have no reduced "
        f"decode: from a 40 MP PNG it needs {own(display_png):.0f} MiB "
        f"({display_png.seconds:.2f} s), from a 40 MP WebP {own(display_webp):.0f} MiB "
        f"({display_webp.seconds:.2f} s).",
    ]
    return "\n".join(lines)


def _fits(peak_mb: float) -> str:
    return "fits" if peak_mb < LAMBDA_MEMORY_MB else "does NOT fit"


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
pipeline that re-encodes: Pillow keeps 4 bytes an RGB pixel, so one 40 MP image is
160 MB, 152 MiB). Also measured: the largest upscale the 64 MP output cap admits, and the
image work of an edit worker storing a 40 MP result."""


NOTES = """\
Reading: before this pipeline was reworked the 40 MP generate peaked at 676 MiB (and the
64 MP upscale at 684 MiB). It held the decoded photo and its rotated copy in `sanitize`,
decoded the original again with a copy (`convert`), made three more full-size images in
the style, and Pillow's WebP encoder copied the result into a 4-byte ARGB picture next to
libwebp's YUV planes. Now:

- `sanitize` rotates a photo channel by channel: the 1-byte channels are split off, the
  decoded image is closed, each channel is transposed and the three are merged; 7 bytes a
  pixel at the peak instead of 8, the same bytes as `ImageOps.exif_transpose`.
- The provider's decode hands the decoded pixels over instead of copying them.
- Styles and restore run in place, in bands of about 1 MP read with a margin of the rows
  their filters look at; global statistics (autocontrast's histogram, the contrast mean)
  come from a first pass over the bands.
- The WebP encode of an RGB(A) image calls the libwebp Pillow itself loaded, importing
  RGB(A) straight into YUV(A): the bytes are gathered band by band (3 a pixel for RGB),
  and the picture they came from is freed before the conversion (`malloc_trim` hands
  its pages back: glibc keeps freed image blocks in its heap once its mmap threshold has
  risen). An upscale goes to the encoder band by band, so its large result never exists
  as an image. The bytes are Pillow's.

Every change gives the same pixels or bytes as before
(`tests/unit/test_imaging_memory.py` compares them with the whole-image code). The peak
is now `sanitize`'s rotation or the encode's RGB copy next to the image, whichever is
larger (the steps above); a step starts above what is alive by what glibc's heap kept.

An edit worker storing a 40 MP result (a `local` style keeps the size) fits as well: the
watermark is composited on the mark's box only, in place, and a still WebP is decoded by
libwebp into one buffer (Pillow's own WebP decoder goes through libwebp's animation
decoder and holds three full-size copies, 700 to 750 MiB at 40 MP). Still over 512 MB: a
40 MP picture with transparency, where libwebp codes the alpha plane losslessly, with
working buffers of several bytes a pixel (Pillow's own encoder needs about 300 MiB more
still, for its ARGB copy).

Memory size: `GenerateApiFunction` and `JobsWorkerFunction` (the same provider code on
the stored original), `EditSubmitWorkerFunction` and `EditPollWorkerFunction` (sanitise
event photos, store watermarked results) are configured with 1769 MB, the size at which
Lambda gives a function one full vCPU. Memory is not what needs it (the 40 MP generate,
the 64 MP upscale and a stored 40 MP edit result fit 512 MB; only a 40 MP picture with
transparency does not). CPU is:
Lambda's CPU share scales with the memory size, about 0.29 vCPU at 512 MB, and this work
is single-threaded Pillow and libwebp, so the handler times above (one vCPU) would take
about 3.5 times as long, the 40 MP generate and the upscale near or past the generate's
28 s timeout. Above 1769 MB the extra share is a second vCPU that one thread cannot use,
at a higher price per millisecond."""


def run() -> str:
    return "\n\n".join([HEADER, render(measure()), NOTES])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peak_rss")
    parser.add_argument("--child", nargs=3, metavar=("CASE", "GUEST", "UPLOAD_KEY"))
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return
    print(render(measure()))


if __name__ == "__main__":
    main()
