"""
The IAM operations on credentials: access keys, console login profiles and MFA devices.

Part of the IAM service layer: imports nothing from the edge or the CLI.
"""

from __future__ import annotations

from gateway.iam import responses
from gateway.iam.operations.params import CALLER, PATH, USER, Args, Param
from gateway.iam.operations.registry import operation
from gateway.iam.responses import Shape
from gateway.iam.service import IAM

# --- access keys ------------------------------------------------------------------------------

KEY_ID = Param("AccessKeyId", required=True, help="the access key id (AKIA...)")


@operation("CreateAccessKey", "create an access key (the secret is shown once)", CALLER)
async def _create_access_key(iam: IAM, args: Args) -> Shape:
    key = await iam.create_access_key(args.text("UserName"))
    return {"AccessKey": responses.new_access_key(key)}


@operation("ListAccessKeys", "list a user's access keys", CALLER)
async def _list_access_keys(iam: IAM, args: Args) -> Shape:
    keys = await iam.list_access_keys(args.text("UserName"))
    return {"AccessKeyMetadata": [responses.access_key(key) for key in keys]}


@operation(
    "UpdateAccessKey",
    "activate or deactivate an access key",
    CALLER,
    KEY_ID,
    Param("Status", required=True, choices=("Active", "Inactive"), help="Active or Inactive"),
)
async def _update_access_key(iam: IAM, args: Args) -> Shape:
    await iam.update_access_key(
        args.text("UserName"), args.text("AccessKeyId"), args.text("Status")
    )
    return {}


@operation("DeleteAccessKey", "delete an access key for good", CALLER, KEY_ID)
async def _delete_access_key(iam: IAM, args: Args) -> Shape:
    await iam.delete_access_key(args.text("UserName"), args.text("AccessKeyId"))
    return {}


@operation("GetAccessKeyLastUsed", "show when an access key was last used", KEY_ID)
async def _get_access_key_last_used(iam: IAM, args: Args) -> Shape:
    return responses.access_key_last_used(
        await iam.get_access_key_last_used(args.text("AccessKeyId"))
    )


# --- login profiles ---------------------------------------------------------------------------

RESET = Param(
    "PasswordResetRequired", "boolean", help="the user must set a new password at next sign-in"
)


@operation(
    "CreateLoginProfile",
    "give a user a console password",
    USER,
    Param("Password", required=True, help="the new password"),
    RESET,
)
async def _create_login_profile(iam: IAM, args: Args) -> Shape:
    profile = await iam.create_login_profile(
        args.text("UserName"),
        args.text("Password"),
        password_reset_required=bool(args.flag("PasswordResetRequired")),
    )
    return {"LoginProfile": responses.login_profile(profile)}


@operation("GetLoginProfile", "show a user's console login profile", CALLER)
async def _get_login_profile(iam: IAM, args: Args) -> Shape:
    profile = await iam.get_login_profile(args.text("UserName"))
    return {"LoginProfile": responses.login_profile(profile)}


@operation(
    "UpdateLoginProfile",
    "change a user's console password or reset requirement",
    USER,
    Param("Password", help="the new password"),
    RESET,
)
async def _update_login_profile(iam: IAM, args: Args) -> Shape:
    await iam.update_login_profile(
        args.text("UserName"),
        password=args.maybe_text("Password"),
        password_reset_required=args.flag("PasswordResetRequired"),
    )
    return {}


@operation("DeleteLoginProfile", "remove a user's console password", USER)
async def _delete_login_profile(iam: IAM, args: Args) -> Shape:
    await iam.delete_login_profile(args.text("UserName"))
    return {}


@operation(
    "ChangePassword",
    "change the calling user's own console password",
    Param(
        "UserName",
        caller=True,
        help="gateway extension for this CLI, which has no calling user: the user whose "
        "password changes (the HTTP API always uses the caller)",
    ),
    Param("OldPassword", required=True, help="the current password"),
    Param("NewPassword", required=True, help="the new password"),
)
async def _change_password(iam: IAM, args: Args) -> Shape:
    await iam.change_password(
        args.text("UserName"), args.text("OldPassword"), args.text("NewPassword")
    )
    return {}


# --- MFA devices ------------------------------------------------------------------------------

SERIAL = Param("SerialNumber", required=True, help="the device's serial number (its ARN)")


@operation(
    "CreateVirtualMFADevice",
    "create a virtual MFA device (the seed is shown once)",
    Param("VirtualMFADeviceName", required=True, help="the device's name"),
    PATH,
)
async def _create_virtual_mfa_device(iam: IAM, args: Args) -> Shape:
    device = await iam.create_virtual_mfa_device(
        args.text("VirtualMFADeviceName"), path=args.maybe_text("Path")
    )
    return {"VirtualMFADevice": responses.new_virtual_mfa_device(device)}


CODES = (
    Param("AuthenticationCode1", required=True, help="a code from the device"),
    Param("AuthenticationCode2", required=True, help="the next code from the device"),
)


@operation(
    "EnableMFADevice",
    "assign an MFA device to a user with two consecutive codes",
    USER,
    SERIAL,
    *CODES,
)
async def _enable_mfa_device(iam: IAM, args: Args) -> Shape:
    await iam.enable_mfa_device(
        args.text("UserName"),
        args.text("SerialNumber"),
        args.text("AuthenticationCode1"),
        args.text("AuthenticationCode2"),
    )
    return {}


@operation(
    "ResyncMFADevice",
    "check that a user's MFA device is in sync, with two consecutive codes",
    USER,
    SERIAL,
    *CODES,
)
async def _resync_mfa_device(iam: IAM, args: Args) -> Shape:
    await iam.resync_mfa_device(
        args.text("UserName"),
        args.text("SerialNumber"),
        args.text("AuthenticationCode1"),
        args.text("AuthenticationCode2"),
    )
    return {}


@operation("DeactivateMFADevice", "unassign an MFA device from a user", CALLER, SERIAL)
async def _deactivate_mfa_device(iam: IAM, args: Args) -> Shape:
    await iam.deactivate_mfa_device(args.text("UserName"), args.text("SerialNumber"))
    return {}


@operation("DeleteVirtualMFADevice", "delete an unassigned virtual MFA device", SERIAL)
async def _delete_virtual_mfa_device(iam: IAM, args: Args) -> Shape:
    await iam.delete_virtual_mfa_device(args.text("SerialNumber"))
    return {}


@operation("ListMFADevices", "list a user's MFA devices", CALLER)
async def _list_mfa_devices(iam: IAM, args: Args) -> Shape:
    devices = await iam.list_mfa_devices(args.text("UserName"))
    return {"MFADevices": [responses.mfa_device(d) for d in devices]}


@operation(
    "ListVirtualMFADevices",
    "list the account's virtual MFA devices",
    Param(
        "AssignmentStatus",
        choices=("Assigned", "Unassigned", "Any"),
        help="Assigned, Unassigned or Any (default)",
    ),
)
async def _list_virtual_mfa_devices(iam: IAM, args: Args) -> Shape:
    status = args.maybe_text("AssignmentStatus") or "Any"
    shapes: list[Shape] = []
    for device in await iam.list_virtual_mfa_devices():
        assigned = device.user_name is not None
        if status != "Any" and assigned != (status == "Assigned"):
            continue
        owner = await iam.get_user(device.user_name) if device.user_name else None
        shapes.append(responses.virtual_mfa_device(device, owner))
    return {"VirtualMFADevices": shapes}
