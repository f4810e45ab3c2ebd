"""
The IAM admin pages: users, groups, policies, roles, the account's password policy
and alias.

Reading a page needs the matching read action (``iam:ListUsers``, ``iam:GetUser``,
...). Every change goes through the operation registry (``gateway.iam.operations``,
the same table the CLI and the IAM API use) after the policy engine allowed the
operation's action on its resource, so a read-only administrator sees everything
and changes nothing. Policy editors show the validator's errors and warnings next
to the document and keep what was typed.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from gateway.console.cookies import CONSOLE_PATH, SIGNIN_PATH, safe_next
from gateway.console.selfservice import policy_findings
from gateway.console.web import Ctx, authorize, is_allowed, page, redirect, render
from gateway.errors import AccessDenied, GatewayError, InvalidInput, NoSuchEntity
from gateway.iam import IAM, naming, passwords
from gateway.iam.operations import OPERATIONS, invoke

# Operations with their own pages: they return a secret, or re-issue the session.
_NOT_GENERIC = frozenset({"CreateAccessKey", "CreateVirtualMFADevice", "ChangePassword"})
_KINDS = {"user": "UserName", "group": "GroupName", "role": "RoleName"}
_PUT_INLINE = {"user": "PutUserPolicy", "group": "PutGroupPolicy", "role": "PutRolePolicy"}


def _q(value: str) -> str:
    return quote(value, safe="")


async def resource_for(iam: IAM, params: dict[str, Any]) -> str:
    """
    Return the ARN an operation with ``params`` acts on (AWS's resource for it).
    """
    account = iam.account_id
    if params.get("UserName"):
        name = str(params["UserName"])
        try:
            return (await iam.get_user(name)).arn
        except (NoSuchEntity, InvalidInput):
            return naming.arn(account, "user", str(params.get("Path") or "/"), name)
    if params.get("GroupName"):
        name = str(params["GroupName"])
        try:
            return (await iam.get_group(name))[0].arn
        except (NoSuchEntity, InvalidInput):
            return naming.arn(account, "group", str(params.get("Path") or "/"), name)
    if params.get("RoleName"):
        name = str(params["RoleName"])
        try:
            return (await iam.get_role(name)).arn
        except (NoSuchEntity, InvalidInput):
            return naming.arn(account, "role", str(params.get("Path") or "/"), name)
    if params.get("PolicyArn"):
        return str(params["PolicyArn"])
    if params.get("PolicyName"):
        path = str(params.get("Path") or "/")
        return naming.arn(account, "policy", path, str(params["PolicyName"]))
    if params.get("SerialNumber"):
        return str(params["SerialNumber"])
    return "*"


def _params(ctx: Ctx) -> dict[str, Any]:
    # Form fields to AWS parameters: blanks are absent, checkboxes are booleans,
    # TagKey/TagValue make one tag.
    params: dict[str, Any] = {}
    for name, value in ctx.form.items():
        if name in ("csrf", "back", "TagKey", "TagValue", "confirm"):
            continue
        if value == "":
            continue
        params[name] = "true" if value == "on" else value
    if ctx.field("TagKey"):
        params["Tags"] = [{"Key": ctx.field("TagKey"), "Value": ctx.field("TagValue")}]
    if "TagKeys" in params:
        params["TagKeys"] = [params["TagKeys"]]
    return params


async def run(ctx: Ctx, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """
    Authorize ``iam:<name>`` on its resource, then invoke the operation.

    Raises:
        AccessDenied: the engine refused; GatewayError: the service refused.
    """
    operation = OPERATIONS.get(name)
    if operation is None:
        raise InvalidInput(f"unknown operation `{name}`", code="InvalidAction")
    resource = await resource_for(ctx.iam, params)
    await authorize(ctx, operation.action, resource)
    result = await invoke(ctx.iam, name, params)
    return dict(result)


@page()
async def do(ctx: Ctx) -> Response:
    """
    ``POST /_gateway/console/do/<Operation>``: one IAM change from a form.
    """
    name = str(ctx.request.path_params["operation"])
    back = safe_next(ctx.field("back"), CONSOLE_PATH)
    operation = OPERATIONS.get(name)
    if operation is None or operation.is_read_only or name in _NOT_GENERIC:
        raise InvalidInput(f"`{name}` cannot be run from this form", code="InvalidAction")
    if name.startswith("Delete") and ctx.field("confirm") != "yes":
        return redirect(ctx, back, error="Tick the confirmation box to delete.")
    try:
        await run(ctx, name, _params(ctx))
    except AccessDenied as exc:
        return redirect(ctx, back, error=exc.message)
    except GatewayError as exc:
        if exc.status >= 500:
            raise
        return redirect(ctx, back, error=f"{exc.code}: {exc.message}")
    if name == "DeleteUser" or name == "DeleteGroup" or name == "DeleteRole":
        back = f"{CONSOLE_PATH}{name.removeprefix('Delete').lower()}s"
    if name == "DeletePolicy":
        back = f"{CONSOLE_PATH}policies"
    return redirect(ctx, back, ok=f"{name}: done.")


# -- users ---------------------------------------------------------------------------


@page()
async def users(ctx: Ctx) -> Response:
    """
    The account's users, and the form to create one.
    """
    await authorize(ctx, "iam:ListUsers", "*")
    found = await ctx.iam.list_users()
    return render(ctx, "users.html", users=found)


@page()
async def user_create(ctx: Ctx) -> Response:
    """
    Create a user, with an optional console password (typed or generated, shown
    once) and an optional access key (shown once).
    """
    name = ctx.field("UserName").strip()
    params: dict[str, Any] = {"UserName": name, "Path": ctx.field("Path") or None}
    if ctx.field("TagKey"):
        params["Tags"] = [{"Key": ctx.field("TagKey"), "Value": ctx.field("TagValue")}]
    iam = ctx.iam
    arn = naming.arn(iam.account_id, "user", ctx.field("Path") or "/", name)
    console = ctx.flag("console")
    generate = ctx.flag("generate")
    wants_key = ctx.flag("access_key")
    try:
        await authorize(ctx, "iam:CreateUser", arn)
        if "Tags" in params:
            await authorize(ctx, "iam:TagUser", arn)
        if console:
            await authorize(ctx, "iam:CreateLoginProfile", arn)
        if wants_key:
            await authorize(ctx, "iam:CreateAccessKey", arn)
        password = ""
        if console:
            password = ctx.field("password")
            if generate or not password:
                try:
                    policy = await iam.get_account_password_policy()
                except NoSuchEntity:
                    policy = None
                password = passwords.generate_password(policy)
            else:
                try:
                    passwords.check_password(password, await _policy_or_none(iam))
                except InvalidInput as exc:
                    return redirect(ctx, f"{CONSOLE_PATH}users", error=exc.message)
        async with iam.batch() as batch:
            await invoke(batch, "CreateUser", params)
            if console:
                await invoke(
                    batch,
                    "CreateLoginProfile",
                    {
                        "UserName": name,
                        "Password": password,
                        "PasswordResetRequired": ctx.flag("reset"),
                    },
                )
            key = await batch.create_access_key(name) if wants_key else None
    except AccessDenied as exc:
        return redirect(ctx, f"{CONSOLE_PATH}users", error=exc.message)
    except GatewayError as exc:
        if exc.status >= 500:
            raise
        return redirect(ctx, f"{CONSOLE_PATH}users", error=f"{exc.code}: {exc.message}")
    account = await iam.get_account()
    base = ctx.gateway.settings.server.public_url.rstrip("/")
    link = f"{base}{SIGNIN_PATH}/{_q(account.alias or account.account_id)}"
    return render(
        ctx,
        "new_user.html",
        user=name,
        password=password if console and generate else "",
        console=console,
        key_id=key.key.access_key_id if key else "",
        secret=key.secret_access_key if key else "",
        link=link,
        back=f"{CONSOLE_PATH}users/{_q(name)}",
    )


async def _policy_or_none(iam: IAM) -> passwords.PasswordPolicy | None:
    try:
        return await iam.get_account_password_policy()
    except NoSuchEntity:
        return None


@page()
async def user_detail(ctx: Ctx) -> Response:
    """
    One user: groups, policies, console password, MFA, keys, sessions.
    """
    iam = ctx.iam
    user = await iam.get_user(str(ctx.request.path_params["name"]))
    await authorize(ctx, "iam:GetUser", user.arn)
    try:
        profile = await iam.get_login_profile(user.user_name)
    except NoSuchEntity:
        profile = None
    sessions = await ctx.services.guard.sessions.list_for(user.user_id)
    return render(
        ctx,
        "user.html",
        user=user,
        groups=await iam.list_groups_for_user(user.user_name),
        all_groups=await iam.list_groups(),
        attached=await iam.list_attached_policies("user", user.user_name),
        inline=await iam.list_inline_policies("user", user.user_name),
        policies=await iam.list_policies(),
        keys=await iam.list_access_keys(user.user_name),
        devices=await iam.list_mfa_devices(user.user_name),
        profile=profile,
        sessions=sessions,
        can_change=await is_allowed(ctx, "iam:UpdateUser", user.arn),
        here=f"{CONSOLE_PATH}users/{_q(user.user_name)}",
    )


@page()
async def user_revoke(ctx: Ctx) -> Response:
    """
    End every console session of a user, on every replica (needs
    ``iam:UpdateLoginProfile`` on the user).
    """
    user = await ctx.iam.get_user(str(ctx.request.path_params["name"]))
    here = f"{CONSOLE_PATH}users/{_q(user.user_name)}"
    try:
        await authorize(ctx, "iam:UpdateLoginProfile", user.arn)
    except AccessDenied as exc:
        return redirect(ctx, here, error=exc.message)
    count = await ctx.services.guard.sessions.end_all(user.user_id)
    return redirect(ctx, here, ok=f"Signed out {count} session(s) of {user.user_name}.")


# -- groups --------------------------------------------------------------------------


@page()
async def groups(ctx: Ctx) -> Response:
    await authorize(ctx, "iam:ListGroups", "*")
    return render(ctx, "groups.html", groups=await ctx.iam.list_groups())


@page()
async def group_detail(ctx: Ctx) -> Response:
    iam = ctx.iam
    group, members = await iam.get_group(str(ctx.request.path_params["name"]))
    await authorize(ctx, "iam:GetGroup", group.arn)
    return render(
        ctx,
        "group.html",
        group=group,
        members=members,
        users=await iam.list_users(),
        attached=await iam.list_attached_policies("group", group.group_name),
        inline=await iam.list_inline_policies("group", group.group_name),
        policies=await iam.list_policies(),
        here=f"{CONSOLE_PATH}groups/{_q(group.group_name)}",
    )


# -- roles ---------------------------------------------------------------------------

_TRUST_EXAMPLE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::ACCOUNT:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    },
    indent=2,
)


@page()
async def roles(ctx: Ctx) -> Response:
    await authorize(ctx, "iam:ListRoles", "*")
    example = _TRUST_EXAMPLE.replace("ACCOUNT", ctx.account_id)
    if ctx.request.method != "POST":
        return render(
            ctx, "roles.html", roles=await ctx.iam.list_roles(), document=example, findings=[]
        )
    document = ctx.field("AssumeRolePolicyDocument")
    findings = policy_findings(document, "trust")
    params = {
        "RoleName": ctx.field("RoleName").strip(),
        "Path": ctx.field("Path") or None,
        "Description": ctx.field("Description") or None,
        "AssumeRolePolicyDocument": document,
    }
    error = ""
    if not any(f["level"] == "error" for f in findings):
        try:
            await run(ctx, "CreateRole", params)
        except GatewayError as exc:
            if exc.status >= 500:
                raise
            error = exc.message
        else:
            return redirect(
                ctx,
                f"{CONSOLE_PATH}roles/{_q(ctx.field('RoleName').strip())}",
                ok="The role is created.",
            )
    return render(
        ctx,
        "roles.html",
        status=400,
        roles=await ctx.iam.list_roles(),
        document=document,
        findings=findings,
        error=error,
        form=ctx.form,
    )


async def _save_document(
    ctx: Ctx,
    document: str,
    kind: str,
    operation: str,
    params: dict[str, Any],
    *,
    here: str,
    ok: str,
) -> tuple[list[dict[str, str]], Response | None]:
    # An editor's save: the validator's findings, and unless they hold an error, the
    # operation's outcome as a redirect back to `here` (None: show the editor again).
    findings = policy_findings(document, kind)
    if any(f["level"] == "error" for f in findings):
        return findings, None
    try:
        await run(ctx, operation, params)
    except GatewayError as exc:
        if exc.status >= 500:
            raise
        return findings, redirect(ctx, here, error=f"{exc.code}: {exc.message}")
    return findings, redirect(ctx, here, ok=ok)


@page()
async def role_detail(ctx: Ctx) -> Response:
    iam = ctx.iam
    role = await iam.get_role(str(ctx.request.path_params["name"]))
    await authorize(ctx, "iam:GetRole", role.arn)
    here = f"{CONSOLE_PATH}roles/{_q(role.role_name)}"
    document = _pretty(role.assume_role_policy_document)
    findings: list[dict[str, str]] = []
    status = 200
    if ctx.request.method == "POST":
        document = ctx.field("PolicyDocument")
        findings, done = await _save_document(
            ctx,
            document,
            "trust",
            "UpdateAssumeRolePolicy",
            {"RoleName": role.role_name, "PolicyDocument": document},
            here=here,
            ok="The trust policy is updated.",
        )
        if done is not None:
            return done
        status = 400
    return render(
        ctx,
        "role.html",
        status=status,
        role=role,
        document=document,
        findings=findings,
        attached=await iam.list_attached_policies("role", role.role_name),
        inline=await iam.list_inline_policies("role", role.role_name),
        policies=await iam.list_policies(),
        here=here,
    )


# -- policies ------------------------------------------------------------------------

_POLICY_EXAMPLE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "service:Action", "Resource": "*"}],
    },
    indent=2,
)


def _pretty(document: str) -> str:
    try:
        return json.dumps(json.loads(document), indent=2)
    except ValueError:
        return document


@page()
async def policies(ctx: Ctx) -> Response:
    """
    Managed policies, and the editor to create one.
    """
    await authorize(ctx, "iam:ListPolicies", "*")
    found = await ctx.iam.list_policies()
    if ctx.request.method != "POST":
        return render(
            ctx, "policies.html", policies=found, document=_POLICY_EXAMPLE, findings=[], form={}
        )
    document = ctx.field("PolicyDocument")
    findings = policy_findings(document, "identity")
    has_errors = any(f["level"] == "error" for f in findings)
    has_warnings = any(f["level"] == "warning" for f in findings)
    error = ""
    if not has_errors and (not has_warnings or ctx.flag("accept_warnings")):
        params = {
            "PolicyName": ctx.field("PolicyName").strip(),
            "Path": ctx.field("Path") or None,
            "Description": ctx.field("Description") or None,
            "PolicyDocument": document,
        }
        try:
            result = await run(ctx, "CreatePolicy", params)
        except GatewayError as exc:
            if exc.status >= 500:
                raise
            error = f"{exc.code}: {exc.message}"
        else:
            arn = str(result["Policy"]["Arn"])
            return redirect(ctx, f"{CONSOLE_PATH}policy?arn={_q(arn)}", ok="The policy is created.")
    return render(
        ctx,
        "policies.html",
        status=400 if has_errors or error else 200,
        policies=found,
        document=document,
        findings=findings,
        error=error,
        form=ctx.form,
    )


@page()
async def policy_detail(ctx: Ctx) -> Response:
    """
    One managed policy: its document, versions and attachments; a new version editor.
    """
    iam = ctx.iam
    arn = ctx.request.query_params.get("arn") or ctx.field("PolicyArn")
    policy = await iam.get_policy(arn)
    await authorize(ctx, "iam:GetPolicy", policy.arn)
    here = f"{CONSOLE_PATH}policy?arn={_q(policy.arn)}"
    document = _pretty(await iam.policy_document(policy.arn))
    findings: list[dict[str, str]] = []
    status = 200
    if ctx.request.method == "POST":
        document = ctx.field("PolicyDocument")
        findings, done = await _save_document(
            ctx,
            document,
            "identity",
            "CreatePolicyVersion",
            {"PolicyArn": policy.arn, "PolicyDocument": document, "SetAsDefault": True},
            here=here,
            ok="A new default version is saved.",
        )
        if done is not None:
            return done
        status = 400
    return render(
        ctx,
        "policy.html",
        status=status,
        policy=policy,
        document=document,
        findings=findings,
        versions=await iam.list_policy_versions(policy.arn),
        entities=await iam.list_entities_for_policy(policy.arn),
        here=here,
    )


@page()
async def inline(ctx: Ctx) -> Response:
    """
    The inline policy editor of a user, group or role.
    """
    kind = ctx.request.query_params.get("kind") or ctx.field("kind")
    if kind not in _KINDS:
        raise InvalidInput("expected kind `user`, `group` or `role`")
    owner = ctx.request.query_params.get("name") or ctx.field("name")
    policy_name = ctx.request.query_params.get("policy") or ctx.field("PolicyName")
    if not owner:
        raise InvalidInput(f"name the {kind}")
    here = f"{CONSOLE_PATH}{kind}s/{_q(owner)}"
    resource = await resource_for(ctx.iam, {_KINDS[kind]: owner})
    await authorize(ctx, f"iam:Get{kind.capitalize()}Policy", resource)
    document = _POLICY_EXAMPLE
    if policy_name and ctx.request.method != "POST":
        try:
            found = await ctx.iam.get_inline_policy(kind, owner, policy_name)  # type: ignore[arg-type]
            document = _pretty(found.document)
        except NoSuchEntity:
            pass
    findings: list[dict[str, str]] = []
    status = 200
    if ctx.request.method == "POST":
        document = ctx.field("PolicyDocument")
        findings, done = await _save_document(
            ctx,
            document,
            "identity",
            _PUT_INLINE[kind],
            {_KINDS[kind]: owner, "PolicyName": policy_name, "PolicyDocument": document},
            here=here,
            ok=f"Inline policy {policy_name} is saved.",
        )
        if done is not None:
            return done
        status = 400
    return render(
        ctx,
        "inline.html",
        status=status,
        kind=kind,
        owner=owner,
        policy_name=policy_name,
        document=document,
        findings=findings,
        back=here,
    )


# -- account -------------------------------------------------------------------------


@page()
async def account(ctx: Ctx) -> Response:
    """
    The account's password policy and alias.
    """
    await authorize(ctx, "iam:GetAccountPasswordPolicy", "*")
    iam = ctx.iam
    policy = await _policy_or_none(iam)
    found = await iam.get_account()
    return render(
        ctx,
        "account.html",
        account=found,
        policy=policy or passwords.PasswordPolicy(),
        has_policy=policy is not None,
    )
