"""
The IAM operations on policies: customer managed policies and their versions, and the
attached and inline policies of users, groups and roles (the same seven operations for
each kind).

Part of the IAM service layer: imports nothing from the edge or the CLI.
"""

from __future__ import annotations

from typing import Literal, cast

from gateway.iam import documents, responses
from gateway.iam.operations.params import (
    DOCUMENT,
    GROUP,
    PATH,
    PATH_PREFIX,
    POLICY_ARN,
    POLICY_NAME,
    ROLE,
    USER,
    Args,
    Param,
    path_prefix,
)
from gateway.iam.operations.registry import operation
from gateway.iam.policies import PrincipalKind
from gateway.iam.responses import Shape
from gateway.iam.service import IAM


async def _boundary_uses(iam: IAM) -> dict[str, int]:
    counts: dict[str, int] = {}
    for arn in [user.permissions_boundary for user in await iam.list_users()] + [
        role.permissions_boundary for role in await iam.list_roles()
    ]:
        if arn is not None:
            counts[arn] = counts.get(arn, 0) + 1
    return counts


# --- managed policies -------------------------------------------------------------------------


@operation(
    "CreatePolicy",
    "create a customer managed policy",
    POLICY_NAME,
    DOCUMENT,
    PATH,
    Param("Description", help="a description of the policy"),
)
async def _create_policy(iam: IAM, args: Args) -> Shape:
    policy = await iam.create_policy(
        args.text("PolicyName"),
        args.raw("PolicyDocument"),
        path=args.maybe_text("Path"),
        description=args.maybe_text("Description"),
    )
    return {"Policy": responses.policy(policy)}


@operation("GetPolicy", "show a managed policy", POLICY_ARN)
async def _get_policy(iam: IAM, args: Args) -> Shape:
    policy = await iam.get_policy(args.text("PolicyArn"))
    uses = (await _boundary_uses(iam)).get(policy.arn, 0)
    return {"Policy": responses.policy(policy, boundary_uses=uses)}


@operation(
    "ListPolicies",
    "list the managed policies",
    Param("Scope", choices=("All", "AWS", "Local"), help="All (default), AWS or Local"),
    Param("OnlyAttached", "boolean", help="list only policies attached to something"),
    PATH_PREFIX,
)
async def _list_policies(iam: IAM, args: Args) -> Shape:
    scope = cast(Literal["All", "AWS", "Local"], args.maybe_text("Scope") or "All")
    policies = await iam.list_policies(
        scope=scope,
        only_attached=bool(args.flag("OnlyAttached")),
        path_prefix=path_prefix(args),
    )
    uses = await _boundary_uses(iam)
    return {
        "Policies": [
            responses.policy(policy, boundary_uses=uses.get(policy.arn, 0)) for policy in policies
        ]
    }


@operation("DeletePolicy", "delete a customer managed policy", POLICY_ARN)
async def _delete_policy(iam: IAM, args: Args) -> Shape:
    await iam.delete_policy(args.text("PolicyArn"))
    return {}


@operation(
    "CreatePolicyVersion",
    "add a version to a managed policy",
    POLICY_ARN,
    DOCUMENT,
    Param("SetAsDefault", "boolean", help="make the new version the default"),
)
async def _create_policy_version(iam: IAM, args: Args) -> Shape:
    version = await iam.create_policy_version(
        args.text("PolicyArn"),
        args.raw("PolicyDocument"),
        set_as_default=bool(args.flag("SetAsDefault")),
    )
    return {"PolicyVersion": responses.policy_version(version, with_document=False)}


VERSION = Param("VersionId", required=True, help="the version, for example `v2`")


@operation("GetPolicyVersion", "show a version of a managed policy", POLICY_ARN, VERSION)
async def _get_policy_version(iam: IAM, args: Args) -> Shape:
    version = await iam.get_policy_version(args.text("PolicyArn"), args.text("VersionId"))
    return {"PolicyVersion": responses.policy_version(version)}


@operation("ListPolicyVersions", "list the versions of a managed policy", POLICY_ARN)
async def _list_policy_versions(iam: IAM, args: Args) -> Shape:
    versions = await iam.list_policy_versions(args.text("PolicyArn"))
    return {
        "Versions": [responses.policy_version(v, with_document=False) for v in versions],
    }


@operation("DeletePolicyVersion", "delete a non-default policy version", POLICY_ARN, VERSION)
async def _delete_policy_version(iam: IAM, args: Args) -> Shape:
    await iam.delete_policy_version(args.text("PolicyArn"), args.text("VersionId"))
    return {}


@operation("SetDefaultPolicyVersion", "make a version the default", POLICY_ARN, VERSION)
async def _set_default_policy_version(iam: IAM, args: Args) -> Shape:
    await iam.set_default_policy_version(args.text("PolicyArn"), args.text("VersionId"))
    return {}


@operation(
    "ListEntitiesForPolicy",
    "list the users, groups and roles a managed policy is attached to",
    POLICY_ARN,
    Param("EntityFilter", choices=("User", "Group", "Role"), help="User, Group or Role"),
)
async def _list_entities_for_policy(iam: IAM, args: Args) -> Shape:
    found = await iam.list_entities_for_policy(args.text("PolicyArn"))
    wanted = args.maybe_text("EntityFilter")
    shape: Shape = {}
    if wanted in (None, "Group"):
        shape["PolicyGroups"] = [{"GroupName": n, "GroupId": i} for n, i in found.groups]
    if wanted in (None, "User"):
        shape["PolicyUsers"] = [{"UserName": n, "UserId": i} for n, i in found.users]
    if wanted in (None, "Role"):
        shape["PolicyRoles"] = [{"RoleName": n, "RoleId": i} for n, i in found.roles]
    return shape


# --- attachments and inline policies, the same six operations for each kind -------------------

_KINDS: tuple[tuple[PrincipalKind, str, Param], ...] = (
    ("user", "User", USER),
    ("group", "Group", GROUP),
    ("role", "Role", ROLE),
)


def _register_principal_policies(kind: PrincipalKind, noun: str, who: Param) -> None:
    key = who.name

    async def attach(iam: IAM, args: Args) -> Shape:
        await iam.attach_policy(kind, args.text(key), args.text("PolicyArn"))
        return {}

    async def detach(iam: IAM, args: Args) -> Shape:
        await iam.detach_policy(kind, args.text(key), args.text("PolicyArn"))
        return {}

    async def list_attached(iam: IAM, args: Args) -> Shape:
        found = await iam.list_attached_policies(kind, args.text(key))
        prefix = path_prefix(args)
        return {
            "AttachedPolicies": [
                responses.attached_policy(p)
                for p in found
                if _policy_path(p.policy_arn).startswith(prefix)
            ],
        }

    async def put(iam: IAM, args: Args) -> Shape:
        await iam.put_inline_policy(
            kind, args.text(key), args.text("PolicyName"), args.raw("PolicyDocument")
        )
        return {}

    async def get(iam: IAM, args: Args) -> Shape:
        found = await iam.get_inline_policy(kind, args.text(key), args.text("PolicyName"))
        return {
            key: args.text(key),
            "PolicyName": found.policy_name,
            "PolicyDocument": documents.decode(found.document),
        }

    async def delete(iam: IAM, args: Args) -> Shape:
        await iam.delete_inline_policy(kind, args.text(key), args.text("PolicyName"))
        return {}

    async def list_inline(iam: IAM, args: Args) -> Shape:
        names = await iam.list_inline_policies(kind, args.text(key))
        return {"PolicyNames": names}

    plural = "Policies"
    table = [
        (f"Attach{noun}Policy", f"attach a managed policy to a {kind}", attach, (POLICY_ARN,)),
        (f"Detach{noun}Policy", f"detach a managed policy from a {kind}", detach, (POLICY_ARN,)),
        (
            f"ListAttached{noun}{plural}",
            f"list the managed policies attached to a {kind}",
            list_attached,
            (PATH_PREFIX,),
        ),
        (
            f"Put{noun}Policy",
            f"create or replace a {kind}'s inline policy",
            put,
            (POLICY_NAME, DOCUMENT),
        ),
        (f"Get{noun}Policy", f"show a {kind}'s inline policy", get, (POLICY_NAME,)),
        (f"Delete{noun}Policy", f"delete a {kind}'s inline policy", delete, (POLICY_NAME,)),
        (f"List{noun}{plural}", f"list a {kind}'s inline policy names", list_inline, ()),
    ]
    for name, summary, handler, extra in table:
        operation(name, summary, who, *extra)(handler)


def _policy_path(arn: str) -> str:
    # arn:aws:iam::<account>:policy<path><name>
    resource = arn.split(":", 5)[-1]
    return resource[len("policy") : resource.rfind("/") + 1] or "/"


for _kind, _noun, _who in _KINDS:
    _register_principal_policies(_kind, _noun, _who)
