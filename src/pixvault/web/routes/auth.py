"""Sign-up, sign-in, sign-out and the current account."""

from __future__ import annotations

from fastapi import APIRouter

from pixvault.web.deps import ClientIp, ContainerDep, CurrentUser, Token
from pixvault.web.schemas import (
    Credentials,
    ErrorResponse,
    LoginResponse,
    MessageResponse,
    UserOut,
    UserResponse,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])
ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse},
    401: {"model": ErrorResponse},
    429: {"model": ErrorResponse},
}


@router.post(
    "/register",
    status_code=201,
    response_model=UserResponse,
    responses={**ERRORS, 403: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
)
def register(body: Credentials, container: ContainerDep, ip: ClientIp) -> UserResponse:
    user = container.auth.register(body.email, body.password, ip)
    return UserResponse(user=UserOut.of(user))


@router.post("/login", response_model=LoginResponse, responses=ERRORS)
def login(body: Credentials, container: ContainerDep, ip: ClientIp) -> LoginResponse:
    session = container.auth.login(body.email, body.password, ip)
    return LoginResponse(
        access_token=session.token, expires_at=session.expires_at, user=UserOut.of(session.user)
    )


@router.post("/logout", response_model=MessageResponse, responses=ERRORS)
def logout(_: CurrentUser, token: Token, container: ContainerDep) -> MessageResponse:
    container.auth.logout(token)
    return MessageResponse(message="Signed out")


@router.get("/me", response_model=UserResponse, responses=ERRORS)
def me(user: CurrentUser) -> UserResponse:
    return UserResponse(user=UserOut.of(user))
