"""The facilitator's webhooks page: endpoints, the kinds of change each gets, and the delivery log.

Registering checks the address as delivery will (https, and a public address unless the operator
allows private ones), so a refused endpoint is refused at once rather than failing quietly later.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from openspace.domain import webhooks
from openspace.domain.errors import N_, DomainError, Forbidden, Invalid
from openspace.live.webhooks import Refused, check
from openspace.web.base import Visit, read_form, refusal_page, visit


async def webhooks_page(request: Request, v: Visit | None = None, error: DomainError | None = None,
                        values: dict[str, str] | None = None, created: str = "") -> Response:  # fmt: skip
    v = v or await visit(request, request.path_params["slug"])
    assert v.event is not None
    if not v.actor.facilitator:
        return refusal_page(v, Forbidden(N_("Only the facilitator can see this page. Open your facilitator link.")))
    outward = v.runtime.outward
    endpoints = await outward.webhooks(v.event.id)
    return v.render(
        "webhooks.html",
        endpoints=endpoints,
        urls={e.id: e.url for e in endpoints},
        deliveries=await outward.deliveries(v.event.id),
        kinds=webhooks.KIND_LABELS,
        created=created,
        error=error,
        values=values or {},
        status=201 if created else 200,
    )


async def add_webhook(request: Request) -> Response:
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    if not v.actor.facilitator:
        return refusal_page(v, Forbidden(N_("Only the facilitator can do that.")))
    values: dict[str, str] = {}
    allow = v.runtime.settings.webhook_allow_private
    try:
        values = await read_form(request, v)
        url = webhooks.endpoint_url(values, allow_http=allow)
        kinds = webhooks.chosen_kinds(values)
        shape = webhooks.chosen_format(values)
        try:
            await asyncio.to_thread(check, url, allow)
        except Refused:
            raise Invalid(
                N_("That address is not a public one on the internet, so nothing will be sent there."), field="url"
            ) from None
        webhook = await v.runtime.outward.add_webhook(v.event.id, url, kinds, shape)
    except DomainError as error:
        return await webhooks_page(request, v, error, values)
    return await webhooks_page(request, v, created=webhook.id)


async def remove_webhook(request: Request) -> Response:
    v = await visit(request, request.path_params["slug"])
    assert v.event is not None
    if not v.actor.facilitator:
        return refusal_page(v, Forbidden(N_("Only the facilitator can do that.")))
    try:
        await read_form(request, v)
    except DomainError as error:
        return refusal_page(v, error)
    await v.runtime.outward.remove_webhook(v.event.id, request.path_params["webhook"])
    return v.finish(RedirectResponse(v.url("webhooks", slug=v.event.slug), status_code=303))
