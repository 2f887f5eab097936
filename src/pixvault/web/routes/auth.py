"""Sign-up, sign-in, sign-out and the current account."""

from __future__ import annotations

from fastapi import APIRouter

from pixvault.web.deps import ClientIp, ContainerDep, CurrentUser, Token
from pixvault.web.schemas import (
    CredentialsIn,
    ErrorResponse,
    LoginResponse,
    MessageResponse,
    NewAccountIn,
    UserOut,
    UserResponse,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])
E: dict[str, object] = {"model": ErrorResponse}
# 400, 408, 413, 429 and 503 are added to every operation that can send them by web/openapi.py.


@router.post("/register", status_code=201, response_model=UserResponse, responses={403: E, 409: E})
def register(body: NewAccountIn, container: ContainerDep, ip: ClientIp) -> UserResponse:
    user = container.auth.register(body.email, body.password, ip)
    return UserResponse(user=UserOut.of(user))


@router.post("/login", response_model=LoginResponse, responses={401: E})
def login(body: CredentialsIn, container: ContainerDep, ip: ClientIp) -> LoginResponse:
    session = container.auth.login(body.email, body.password, ip)
    return LoginResponse(
        access_token=session.token, expires_at=session.expires_at, user=UserOut.of(session.user)
    )


@router.post("/logout", response_model=MessageResponse, responses={401: E})
def logout(_: CurrentUser, token: Token, container: ContainerDep) -> MessageResponse:
    container.auth.logout(token)
    return MessageResponse(message="Signed out")


@router.get("/me", response_model=UserResponse, responses={401: E})
def me(user: CurrentUser, container: ContainerDep) -> UserResponse:
    return UserResponse(user=UserOut.of(container.auth.account(user)))
