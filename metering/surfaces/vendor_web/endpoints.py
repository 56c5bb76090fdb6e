"""`/vendor/login` and `/vendor/logout`, and how the vendor pages join the app."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from metering.platform.db.session import get_session
from metering.platform.web.templating import render
from metering.surfaces.vendor_web import (
    alerts_pages,
    auth,
    customers_pages,
    disputes_pages,
    invoice_pages,
    invoices_pages,
    margin_pages,
    webhooks_pages,
)

router = APIRouter(include_in_schema=False)
HOME = "/vendor/margin"


def _login_page(
    request: Request, next_url: str, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    token = auth.new_login_token()
    response = render(
        request,
        "vendor/login.html",
        {"next": next_url, "error": error, "csrf_token": token},
        status_code=status_code,
    )
    auth.bind_login_token(request, response, token)
    return response


@router.get("/vendor/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = Query(None)) -> HTMLResponse:
    """The sign-in form: the vendor's API key, as issued by `metering vendors create`."""
    return _login_page(request, auth.safe_next(next, HOME))


@router.post("/vendor/login", response_model=None)
def login(
    request: Request,
    api_key: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form(HOME),
    session: Session = Depends(get_session),
) -> Response:
    """Check the key and start a session; the form again, saying why, when it fails."""
    target = auth.safe_next(next, HOME)
    if not auth.login_form_valid(request, csrf_token):
        return _login_page(
            request,
            target,
            "This form has expired or was not sent from this page. Enter the key again.",
            403,
        )
    key = auth.key_row(session, api_key) if api_key.strip() else None
    if key is None:
        return _login_page(request, target, "This API key is not valid (unknown or revoked).", 401)
    response = RedirectResponse(target, status_code=303)
    auth.sign_in(request, response, key)
    return response


@router.post("/vendor/logout", response_model=None)
def logout(
    csrf_token: str = Form(""),
    context: auth.VendorContext = Depends(auth.vendor_context),
) -> Response:
    """End the browser's session (the API key itself stays valid)."""
    if not auth.csrf_valid(context, csrf_token):
        return RedirectResponse(HOME, status_code=303)
    response = RedirectResponse("/vendor/login", status_code=303)
    auth.sign_out(response)
    return response


async def _to_login(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, auth.SignInRequired)
    return RedirectResponse(auth.login_url(exc.next_url), status_code=303)


def install_vendor_web(app: FastAPI) -> None:
    """Add the login and the vendor pages to `app` (static files come with the portal)."""
    app.include_router(router)
    for pages in (
        margin_pages,
        customers_pages,
        invoice_pages,  # before the list's `/{id}/{action}` pages
        invoices_pages,
        disputes_pages,
        webhooks_pages,
        alerts_pages,
    ):
        app.include_router(pages.router)
    app.add_exception_handler(auth.SignInRequired, _to_login)
