"""What the superadmin console's routes (`admin_console`) take and answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiimage.edits.admin_reads import EventAccess, TenantBudget
from aiimage.edits.admission import MAX_PROMPT_LENGTH, PromptPreview
from aiimage.edits.models import MAX_VERSION, Addon, Budget, Entitlement, Package

if TYPE_CHECKING:
    from aiimage.ops.report import Report

MAX_TERMS = 1000
MAX_TERM_LENGTH = 100
MAX_TEMPLATE_LENGTH = 2000
# A report lists at most this many items; `found` counts them all.
MAX_REPORT_DETAILS = 200


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- bodies -------------------------------------------------------------------------------


class BlockedTermsUpdate(Strict):
    expected_version: int = Field(ge=0, le=MAX_VERSION)
    # None: back to the platform's list (`BLOCKED_TERMS`, else the shipped baseline).
    terms: list[str] | None = Field(default=None, max_length=MAX_TERMS)


class PromptPreviewRequest(Strict):
    prompt_template: str = Field(min_length=1, max_length=MAX_TEMPLATE_LENGTH)
    negative_prompt_template: str | None = Field(default=None, max_length=MAX_TEMPLATE_LENGTH)
    custom_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_LENGTH)


class EventPackageUpdate(Strict):
    package_key: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"
    )


class RecoverRequest(Strict):
    minutes: int = Field(default=30, ge=1, le=10080)
    # `list` is the dry run: nothing changes.
    mode: Literal["list", "requeue", "fail"] = "list"


class DispatchRequest(Strict):
    limit: int = Field(default=100, ge=1, le=1000)
    dry_run: bool = True


class PruneRequest(Strict):
    """From a screen the prune only reports; deleting is the CLI's or the schedule's."""

    request_days: int | None = Field(default=None, ge=1, le=3650)
    ledger_days: int | None = Field(default=None, ge=1, le=3650)
    dry_run: Literal[True] = True


# --- answers ------------------------------------------------------------------------------


class BlockedTermsView(BaseModel):
    terms: list[str]
    platform_default: bool = Field(description="True: no list is stored, the platform's holds")
    version: int


class PromptPreviewView(BaseModel):
    prompt: str
    negative_prompt: str | None
    blocked_field: Literal["prompt", "negative_prompt"] | None = Field(
        description="The field the terms in force would block (`prompt_blocked`), if any"
    )

    @classmethod
    def of(cls, preview: PromptPreview) -> PromptPreviewView:
        return cls.model_validate(
            {
                "prompt": preview.prompt,
                "negative_prompt": preview.negative_prompt,
                "blocked_field": preview.blocked_field,
            }
        )


class EventAccessView(BaseModel):
    tenant_id: str
    slug: str
    event_id: str
    name: str
    package_key: str | None
    package: Package | None
    addons: list[Addon]
    entitlement: Entitlement

    @classmethod
    def of(cls, access: EventAccess) -> EventAccessView:
        event = access.event
        return cls(
            tenant_id=event.tenant_id,
            slug=event.slug,
            event_id=event.event_id,
            name=event.name,
            package_key=event.package_key,
            package=access.package,
            addons=access.addons,
            entitlement=access.entitlement,
        )


class BudgetUsageView(BaseModel):
    month: str
    spent_micros: int
    reserved_micros: int


class TenantBudgetView(BaseModel):
    tenant_id: str
    name: str
    budget: Budget
    usage: BudgetUsageView
    alert_cooldown_minutes: int = Field(
        description="The soft-cap alert's cooldown in effect: `budget.alert_cooldown_minutes`, "
        "else the deployment's BUDGET_ALERT_COOLDOWN_MINUTES"
    )

    @classmethod
    def of(cls, state: TenantBudget) -> TenantBudgetView:
        usage = state.usage
        return cls(
            tenant_id=state.tenant.tenant_id,
            name=state.tenant.name,
            budget=state.tenant.budget,
            usage=BudgetUsageView(
                month=usage.month,
                spent_micros=usage.spent_micros,
                reserved_micros=usage.reserved_micros,
            ),
            alert_cooldown_minutes=state.alert_cooldown_minutes,
        )


class OpsReportView(BaseModel):
    """What an operation found and did; with `dry_run` nothing changed."""

    command: str
    dry_run: bool
    found: int
    changed: int
    verb: str = Field(description="What `changed` counts: listed, requeued, dispatched, …")
    skipped: int
    failed: int
    note: str | None
    details: list[str] = Field(description=f"At most {MAX_REPORT_DETAILS} of the items")
    summary: str

    @classmethod
    def of(cls, report: Report) -> OpsReportView:
        return cls(
            command=report.command,
            dry_run=report.dry_run,
            found=report.found,
            changed=report.changed,
            verb=report.verb,
            skipped=report.skipped,
            failed=report.failed,
            note=report.note,
            details=report.details[:MAX_REPORT_DETAILS],
            summary=report.summary(),
        )
