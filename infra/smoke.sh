#!/usr/bin/env bash
# The go-live smoke tests of both products (same-origin and CSRF-safe), with curl.
#
#   infra/smoke.sh [APP_ORIGIN] [IMAGE] [EVENT_TOKEN]
#
# APP_ORIGIN defaults to the local stack (http://127.0.0.1:3000); IMAGE to a generated JPEG.
# With an event's join token (EVENT_TOKEN, or the environment's), Magic Edits is checked too:
# its page, its styles, and a guest photo through upload, complete, gallery and display copy
# (no edit is requested: that is a paid provider call, the go-live runbook's tenant test).
# Exit status 0 when every check passes; each check prints one line.
set -euo pipefail

APP_ORIGIN="${1:-${APP_ORIGIN:-http://127.0.0.1:3000}}"
IMAGE="${2:-}"
EVENT_TOKEN="${3:-${EVENT_TOKEN:-}}"
VENV_PYTHON="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python"
PYTHON="${PYTHON:-$([[ -x "$VENV_PYTHON" ]] && echo "$VENV_PYTHON" || echo python3)}"  # needs Pillow
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
JAR="$WORK/jar.txt"
failures=0

check() { # name expected actual
  if [[ "$2" == "$3" ]]; then echo "ok   $1"; else echo "FAIL $1: expected $2, got $3"; failures=$((failures + 1)); fi
}
json() { # file python-expression-on-o
  "$PYTHON" -c 'import json,sys; o=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

if [[ -z "$IMAGE" ]]; then
  IMAGE="$WORK/eh_test.jpg"
  "$PYTHON" - "$IMAGE" <<'PY'
import sys
from PIL import Image, ImageDraw
image = Image.new("RGB", (320, 240), (70, 110, 160))
ImageDraw.Draw(image).ellipse((90, 50, 230, 190), fill=(230, 190, 60))
image.save(sys.argv[1], "JPEG", quality=85)
PY
fi

curl -s -o /dev/null "$APP_ORIGIN/api/ai-image/usage" || { echo "FAIL cannot reach $APP_ORIGIN"; exit 1; }

# 1) Seed a guest_id cookie, then a successful generate.
CSRF=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(16))')
curl -s -c "$JAR" -b "$JAR" "$APP_ORIGIN/api/ai-image/usage" -o "$WORK/usage0.json"
GUEST_ID=$(awk '($0 !~ /^#/ || $0 ~ /^#HttpOnly_/) && $6=="guest_id"{print $7}' "$JAR" | tail -n1)
check "a signed guest_id cookie is set" "yes" "$([[ "$GUEST_ID" == *.* ]] && echo yes || echo no)"
USED_BEFORE=$(json "$WORK/usage0.json" 'o["data"]["usage"]["used"]')

STATUS=$(curl -sS -o "$WORK/resp.json" -w "%{http_code}" \
  -H "Origin: $APP_ORIGIN" \
  -H "Cookie: guest_id=$GUEST_ID; csrf_token=$CSRF" \
  -H "X-CSRF-Token: $CSRF" \
  -F "image=@$IMAGE;type=image/jpeg" \
  --form-string "model=@cf/runwayml/stable-diffusion-v1-5-img2img" \
  "$APP_ORIGIN/api/ai-image/generate")
check "generate answers 200" "200" "$STATUS"
check "generate says success" "True" "$(json "$WORK/resp.json" 'o.get("success")')"
IMG_URL=$(json "$WORK/resp.json" '(o.get("data") or {}).get("imageUrl", "")')
check "imageUrl is not empty" "yes" "$([[ -n "$IMG_URL" ]] && echo yes || echo no)"
check "usage.used is incremented" "$((USED_BEFORE + 1))" \
  "$(json "$WORK/resp.json" '(o.get("data") or {}).get("usage", {}).get("used")')"

# 2) Owner gating of the result.
check "imageUrl with the owner's cookie" "200" \
  "$(curl -s -o /dev/null -w "%{http_code}" -H "Cookie: guest_id=$GUEST_ID" "$IMG_URL")"
check "imageUrl without a cookie" "403" "$(curl -s -o /dev/null -w "%{http_code}" "$IMG_URL")"

# 3) CSRF negative: no Origin, no token.
check "generate without Origin/CSRF" "403" "$(curl -s -o /dev/null -w "%{http_code}" \
  -F "image=@$IMAGE;type=image/jpeg" \
  --form-string "model=@cf/runwayml/stable-diffusion-v1-5-img2img" \
  "$APP_ORIGIN/api/ai-image/generate")"

# 4) Security headers on the generate response.
HEADERS=$(curl -s -D - -o /dev/null -H "Cookie: guest_id=$GUEST_ID" "$APP_ORIGIN/api/ai-image/usage")
for header in strict-transport-security x-frame-options referrer-policy permissions-policy \
  x-content-type-options content-security-policy; do
  check "header $header" "yes" "$(grep -qi "^$header:" <<<"$HEADERS" && echo yes || echo no)"
done

# 5) The Enhancer page: same origin, 200, with the button and a CSP that allows no inline code.
PAGE=$(curl -s -D - "$APP_ORIGIN/tools/imag-enhancer/app")
check "the Enhancer page (200, CSP script-src 'self', Verbessern)" "yes" "$(
  grep -q '^HTTP/[0-9.]* 200' <<<"$PAGE" && grep -qi "^content-security-policy:.*script-src 'self';" <<<"$PAGE" \
    && ! grep -qi '^content-security-policy:.*unsafe-inline' <<<"$PAGE" && grep -q '>Verbessern<' <<<"$PAGE" \
    && echo yes || echo no)"

# 6) Magic Edits, for the guests of one event (only with a join token).
if [[ -n "$EVENT_TOKEN" ]]; then
  EVENT_API="$APP_ORIGIN/api/v1/events/$EVENT_TOKEN"
  GUEST=(-H "Origin: $APP_ORIGIN" -H "Cookie: guest_id=$GUEST_ID; csrf_token=$CSRF" -H "X-CSRF-Token: $CSRF")
  check "the Magic Edits page answers 200" "200" \
    "$(curl -s -o /dev/null -w "%{http_code}" "$APP_ORIGIN/e/$EVENT_TOKEN")"
  check "the event's styles (200, at least one)" "yes" "$(
    [[ "$(curl -s -o "$WORK/styles.json" -w "%{http_code}" "${GUEST[@]}" "$EVENT_API/ai-styles")" == 200 ]] \
      && [[ "$(json "$WORK/styles.json" 'len(o["data"])')" -ge 1 ]] && echo yes || echo no)"
  SIZE=$(wc -c <"$IMAGE" | tr -d ' ')
  check "a photo upload slot answers 201" "201" "$(curl -sS -o "$WORK/slot.json" -w "%{http_code}" \
    "${GUEST[@]}" -H "Content-Type: application/json" \
    -d "{\"content_type\": \"image/jpeg\", \"size\": $SIZE}" "$EVENT_API/photos")"
  PHOTO_ID=$(json "$WORK/slot.json" '(o.get("data") or {}).get("photo_id", "")')
  PUT_URL=$(json "$WORK/slot.json" '(o.get("data") or {}).get("url", "")')
  PUT_HEADERS=()
  while IFS= read -r header; do [[ -n "$header" ]] && PUT_HEADERS+=(-H "$header"); done < <(
    json "$WORK/slot.json" '"\n".join(f"{k}: {v}" for k, v in ((o.get("data") or {}).get("headers") or {}).items())')
  check "the presigned PUT of the photo answers 200" "200" "$(curl -s -o /dev/null -w "%{http_code}" \
    -X PUT "${PUT_HEADERS[@]}" --data-binary "@$IMAGE" "$PUT_URL")"
  STATUS=$(curl -s -o "$WORK/complete.json" -w "%{http_code}" -X POST "${GUEST[@]}" \
    "$EVENT_API/photos/$PHOTO_ID/complete")
  check "complete answers 200 with the photo" "200 $PHOTO_ID" \
    "$STATUS $(json "$WORK/complete.json" '(o.get("data") or {}).get("photo_id")')"
  curl -s -o "$WORK/gallery.json" "${GUEST[@]}" "$EVENT_API/photos"
  check "the gallery lists the photo" "True" \
    "$(json "$WORK/gallery.json" "any(p['photo_id'] == '$PHOTO_ID' for p in o['data'])")"
  check "its watermarked display copy answers 200" "200" "$(curl -s -o /dev/null -w "%{http_code}" \
    "${GUEST[@]}" "$EVENT_API/photos/$PHOTO_ID/image")"
fi

if ((failures > 0)); then echo "$failures check(s) failed"; exit 1; fi
echo "all smoke tests passed against $APP_ORIGIN"
