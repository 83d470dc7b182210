"""HTTP routes of the analyses: funnels and retention, read-only, over the warehouse."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from zhongtai.data import warehouse
from zhongtai.data.analysis import queries
from zhongtai.data.analysis.model import FunnelIn, FunnelOut, RetentionIn, RetentionOut
from zhongtai.platform.http import Ctx, asker

router = APIRouter(prefix="/v1", tags=["data"])


@router.post("/analyses/funnel", response_model=FunnelOut)
def funnel(body: FunnelIn, ctx: Ctx = Depends(asker("data:read"))) -> FunnelOut:
    """漏斗分析: persons reaching each step within the window, in order ("any": other
    events may come between; "strict": none may), with conversion rates and the median
    time from the first step; exclusions and a breakdown by channel or store."""
    wh = warehouse.of(ctx.db.settings)
    return queries.funnel(wh, ctx.principal.tenant_id, body)


@router.post("/analyses/retention", response_model=RetentionOut)
def retention(body: RetentionIn, ctx: Ctx = Depends(asker("data:read"))) -> RetentionOut:
    """留存分析: per cohort (the period of a person's first start event), how many came
    back in each following period."""
    wh = warehouse.of(ctx.db.settings)
    return queries.retention(wh, ctx.principal.tenant_id, body)
