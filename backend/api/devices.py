from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, QueryParameter

from backend.api.params import DB, AnyPrincipal, IdPath
from backend.api.problems import problem_responses
from backend.auth import any_caller
from backend.services import devices
from schemas.devices import FID_PATTERN, TOKEN_PATTERN, Device, DeviceList, DeviceRegistration


class DeviceController(Controller):
    path = "/v1/me/devices"
    tags = ["devices"]
    guards = [any_caller]

    @post(
        operation_id="RegisterDevice",
        summary="Register where the caller's pushes go (staff users and citizen installs)",
        description=(
            "Send the app's Firebase installation ID as `fid` (older apps: their registration token). "
            "201 for a new device; 200 when this caller had already registered the same target, "
            "which is then updated. A target live for another account or install is never moved: 409 "
            "`device_target_in_use`, and the other owner keeps its pushes (the app removes its device with "
            "DELETE when an account logs out)."
        ),
        responses={
            **problem_responses(403, 409),
            200: ResponseSpec(
                Device, description="Already registered by this caller: updated", generate_examples=False
            ),
        },
    )
    async def register(self, db: DB, principal: AnyPrincipal, data: JSONBody[DeviceRegistration]) -> Response[Device]:
        device, created = await devices.register_device(db, principal, data)
        return Response(device, status_code=201 if created else 200)

    @get(operation_id="ListMyDevices", summary="The caller's devices that receive pushes")
    async def list_devices(self, db: DB, principal: AnyPrincipal) -> DeviceList:
        return await devices.list_devices(db, principal)

    @delete(
        operation_id="DeleteDeviceByTarget",
        summary="Stop pushes to the caller's device with this fid (or legacy registration token)",
        responses=problem_responses(404, 422),
    )
    async def delete_device_target(
        self,
        db: DB,
        principal: AnyPrincipal,
        fid: Annotated[
            str | None,
            QueryParameter(
                min_length=8, max_length=200, pattern=FID_PATTERN, description="The app's Firebase installation ID"
            ),
        ] = None,
        registration_token: Annotated[
            str | None,
            QueryParameter(
                min_length=32, max_length=4096, pattern=TOKEN_PATTERN, description="A legacy registration token"
            ),
        ] = None,
    ) -> None:
        await devices.delete_device_target(db, principal, fid, registration_token)

    @delete(
        "/{device_id:int}",
        operation_id="DeleteDevice",
        summary="Stop pushes to one of the caller's devices (e.g. on logout)",
    )
    async def delete_device(self, db: DB, principal: AnyPrincipal, device_id: IdPath) -> None:
        await devices.delete_device(db, principal, device_id)
