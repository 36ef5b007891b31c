"""Typed dependencies: handlers ask for what they need, the app state provides it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from safety.pipeline import Moderator
from safety.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_moderator(request: Request) -> Moderator:
    return request.app.state.moderator


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModeratorDep = Annotated[Moderator, Depends(get_moderator)]
