"""The deploy-time switches of template.yaml, each on and off: the JWT authorizer, the
custom domain, the CDN and the WAF; the Rules that refuse an unusable stack; the samconfig
profiles. Every variant is rendered (the parameters' defaults set to its values) and must be
cfn-lint clean."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from infra.template import TEMPLATE_PATH, Resolver, TemplateError, load_template

ROOT = TEMPLATE_PATH.parent
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000"
PROVIDER = {"ReplicateApiTokenParam": "/aiimage/dev/replicate-api-token"}
JWT = {"JwtIssuer": "https://issuer.example.com", "JwtAudience": "aiimage"}
DOMAIN = {"DomainName": "images.example.com", "CertificateArn": CERT}
CDN = {"EnableCdn": "true", "CdnOriginSecretParam": "/aiimage/dev/cdn-origin-secret"}

VARIANTS: dict[str, dict[str, str]] = {
    "plain": PROVIDER,
    "jwt": {**PROVIDER, **JWT},
    "domain": {**PROVIDER, **DOMAIN},
    "cdn": {**PROVIDER, **CDN, "AppOrigin": "https://d111111abcdef8.cloudfront.net"},
    "cdn-waf-domain-jwt": {**PROVIDER, **CDN, **DOMAIN, **JWT, "EnableWaf": "true"},
}
EDGE_RESOURCES = (
    "ApiDomain",
    "ApiDomainMapping",
    "StaticAssetsCachePolicy",
    "SecurityHeadersPolicy",
    "Cdn",
    "WebAcl",
)
EXPECTED_EDGE = {
    "plain": set(),
    "jwt": set(),
    "domain": {"ApiDomain", "ApiDomainMapping"},
    "cdn": {"StaticAssetsCachePolicy", "SecurityHeadersPolicy", "Cdn"},
    "cdn-waf-domain-jwt": {"StaticAssetsCachePolicy", "SecurityHeadersPolicy", "Cdn", "WebAcl"},
}
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def resolver(parameters: dict[str, str], region: str = "us-east-1") -> Resolver:
    return Resolver(load_template(), parameters=parameters, region=region)


def rendered(parameters: dict[str, str]) -> str:
    """template.yaml with each parameter's Default set to the variant's value."""
    text = TEMPLATE_PATH.read_text()
    for name, value in parameters.items():
        block = re.compile(rf"(?m)^  {name}:\n((?:    .*\n|\n)*?)(?=  \S|\S)")
        match = block.search(text)
        if match is None:
            raise AssertionError(f"no parameter {name}")
        body = re.sub(r"(?m)^    Default: .*\n", "", match.group(1))
        text = text[: match.start(1)] + f'    Default: "{value}"\n' + body + text[match.end(1) :]
    return text


def rule_failures(resolved: Resolver) -> list[str]:
    """The AssertDescriptions of the template's Rules that this deployment fails."""
    import yaml

    from infra.template import CfnLoader

    rules: dict[str, Any] = yaml.load(TEMPLATE_PATH.read_text(), Loader=CfnLoader)["Rules"]  # noqa: S506
    failed = []
    for name, rule in rules.items():
        if "RuleCondition" in rule and not resolved._truth(rule["RuleCondition"], name):
            continue
        for assertion in rule["Assertions"]:
            if not resolved._truth(assertion["Assert"], name):
                failed.append(f"{name}: {' '.join(assertion['AssertDescription'].split())}")
    return failed


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_variant_is_cfn_lint_clean(variant: str, tmp_path: Path) -> None:
    if not CFN_LINT.exists():
        pytest.skip(f"cfn-lint is not installed next to {sys.executable} (make install)")
    path = tmp_path / "template.yaml"
    path.write_text(rendered(VARIANTS[variant]))
    result = subprocess.run(  # noqa: S603 - our own venv's cfn-lint on our own file
        [str(CFN_LINT), "--regions", "us-east-1", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_edge_resources_exist_exactly_when_switched_on(variant: str) -> None:
    resolved = resolver(VARIANTS[variant])
    active = {r for r in EDGE_RESOURCES if resolved.is_active(r)}
    assert active == EXPECTED_EDGE[variant]
    assert rule_failures(resolved) == []


def bearer_events() -> dict[str, dict[str, Any]]:
    function = load_template().resources["AiEditsApiFunction"]
    events: dict[str, dict[str, Any]] = function.properties["Events"]
    return events


@pytest.mark.parametrize("variant", ["plain", "jwt"])
def test_the_jwt_authorizer_guards_the_tenant_and_admin_routes_only(variant: str) -> None:
    resolved = resolver(VARIANTS[variant])
    on = variant == "jwt"
    auth = resolved.resolve(load_template().resources["HttpApi"].properties["Auth"], "Auth")
    if on:
        assert auth == {
            "Authorizers": {
                "JwtAuthorizer": {
                    "IdentitySource": "$request.header.Authorization",
                    "JwtConfiguration": {
                        "issuer": "https://issuer.example.com",
                        "audience": ["aiimage"],
                    },
                }
            }
        }
    else:
        assert auth is None
    guarded = set()
    template = load_template()
    for function in template.functions.values():
        events = template.resources[function.logical_id].properties.get("Events", {})
        for name, event in events.items():
            props = resolved.resolve(event.get("Properties", {}), name)
            if props.get("Auth") is not None:
                assert props["Auth"] == {"Authorizer": "JwtAuthorizer"}
                guarded.add(props["Path"])
    bearer_paths = {
        e["Properties"]["Path"]
        for e in bearer_events().values()
        if e["Properties"]["Path"].startswith(("/api/v1/tenant/", "/api/v1/admin/"))
    }
    # 17 tenant (1 of provenance, 6 of the control room, 2 of the approval step), 14 admin
    # (6 + 8 of the console)
    assert len(bearer_paths) == 31
    assert guarded == (bearer_paths if on else set())


def test_the_cdn_caches_static_assets_by_version_and_nothing_private() -> None:
    resolved = resolver(VARIANTS["cdn"])
    template = load_template()
    config = resolved.resolve(template.resources["Cdn"].properties, "Cdn")["DistributionConfig"]
    behaviors = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(behaviors) == {"/static/*", "/r2-ai/*"}
    assert behaviors["/static/*"]["AllowedMethods"] == ["GET", "HEAD"]
    for private in (config["DefaultCacheBehavior"], behaviors["/r2-ai/*"]):
        assert private["CachePolicyId"] == CACHING_DISABLED
        assert private["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    policy = resolved.resolve(template.resources["StaticAssetsCachePolicy"].properties, "policy")[
        "CachePolicyConfig"
    ]
    assert (policy["MinTTL"], policy["DefaultTTL"], policy["MaxTTL"]) == (1, 31536000, 31536000)
    key = policy["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "whitelist", "QueryStrings": ["v"]}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    (origin,) = config["Origins"]
    assert origin["OriginCustomHeaders"] == [
        {
            "HeaderName": "X-Origin-Verify",
            "HeaderValue": "{{resolve:ssm:/aiimage/dev/cdn-origin-secret}}",
        }
    ]
    assert "Aliases" not in config
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}
    assert "WebACLId" not in config


def test_cdn_mode_reaches_every_function() -> None:
    resolved = resolver(VARIANTS["cdn"])
    for function in resolved.active_functions():
        env = resolved.environment(function)
        assert env["CDN_ENABLED"] == "true"
        assert env["CDN_ORIGIN_SECRET_PARAM"] == "/aiimage/dev/cdn-origin-secret"
        assert env["ALLOWED_ORIGINS"] == "https://d111111abcdef8.cloudfront.net"
    plain = resolver(VARIANTS["plain"])
    env = plain.environment(plain.template.functions["UsageApiFunction"])
    assert (env["CDN_ENABLED"], env["CDN_ORIGIN_SECRET_PARAM"], env["ALLOWED_ORIGINS"]) == (
        "false",
        "",
        "",
    )


@pytest.mark.parametrize(
    ("parameters", "origins"),
    [
        (VARIANTS["plain"], ["*"]),
        (VARIANTS["domain"], ["https://images.example.com"]),
        ({**PROVIDER, "AppOrigin": "https://a.example,https://b.example"}, None),
    ],
)
def test_the_bucket_cors_follows_the_pages_origin(
    parameters: dict[str, str], origins: list[str] | None
) -> None:
    resolved = resolver(parameters)
    cors = resolved.resolve(
        load_template().resources["ImagesBucket"].properties["CorsConfiguration"], "cors"
    )
    expected = origins or ["https://a.example", "https://b.example"]
    assert cors["CorsRules"][0]["AllowedOrigins"] == expected
    env = resolved.environment(resolved.template.functions["UsageApiFunction"])
    assert env["ALLOWED_ORIGINS"] == ",".join(o for o in expected if o != "*")


@pytest.mark.parametrize(
    ("parameters", "region", "refused"),
    [
        ({}, "us-east-1", ["AProviderIsConfigured"]),
        ({"LocalProviderEnabled": "true"}, "us-east-1", []),
        ({"CloudflareAccountId": "0" * 32}, "us-east-1", ["WorkersAiIsComplete"]),
        ({**PROVIDER, "CloudflareApiTokenParam": "/x/t"}, "us-east-1", ["WorkersAiIsComplete"]),
        ({**PROVIDER, "DomainName": "images.example.com"}, "us-east-1", ["DomainHasCertificate"]),
        ({**PROVIDER, "EnableCdn": "true"}, "us-east-1", ["CdnHasOriginSecret"] * 2),
        ({**PROVIDER, **CDN, **DOMAIN, "EnableWaf": "true"}, "eu-central-1", ["WafNeeds"]),
        ({**PROVIDER, "EnableWaf": "true"}, "us-east-1", ["WafNeeds"]),
    ],
)
def test_an_unusable_combination_is_refused_at_deploy_time(
    parameters: dict[str, str], region: str, refused: list[str]
) -> None:
    failures = rule_failures(resolver(parameters, region))
    assert [f.split(":")[0][: len(r)] for f, r in zip(failures, refused, strict=False)] == refused
    assert len(failures) == len(refused), failures


def profile_parameters(profile: str) -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides: list[str] = config[profile]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in overrides)


@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_each_profile_names_the_readme_provider_secrets(profile: str) -> None:
    parameters = profile_parameters(profile)
    assert parameters["CloudflareApiTokenParam"] == f"/aiimage/{profile}/cloudflare-api-token"
    assert parameters["ReplicateApiTokenParam"] == f"/aiimage/{profile}/replicate-api-token"
    readme = (ROOT / "README.md").read_text()
    for name in ("CloudflareApiTokenParam", "ReplicateApiTokenParam"):
        assert parameters[name].replace(f"/{profile}/", "/dev/") in readme
    # The account id is the deployer's own: the placeholder is refused by its pattern...
    with pytest.raises(TemplateError, match=r"CloudflareAccountId.*does not match"):
        resolver(parameters)
    # ... and with a real one the profile passes every rule.
    assert rule_failures(resolver({**parameters, "CloudflareAccountId": "a" * 32})) == []
