"""
The IAM operations that report on the account: GetAccountAuthorizationDetails,
SimulateCustomPolicy and SimulatePrincipalPolicy.

The simulations run ``gateway.policy.simulate_custom_policy``; for
SimulatePrincipalPolicy the principal's own policies (a user's, its groups' and
its boundary; a group's; a role's) come first in the policy list, and their
``SourcePolicyId`` in the results names them (a managed policy's ARN, or
``user/<name>/<inline policy>``).

Part of the IAM service layer: imports nothing from the edge or the CLI.
"""

from __future__ import annotations

from typing import Any, Literal

from gateway.errors import InvalidInput
from gateway.iam import documents, responses
from gateway.iam.grants import Grants, PolicySource
from gateway.iam.operations.params import Args, Param
from gateway.iam.operations.registry import operation
from gateway.iam.responses import Shape
from gateway.iam.service import IAM
from gateway.policy import PolicyError, simulate_custom_policy

# --- GetAccountAuthorizationDetails -----------------------------------------------------------

ENTITY_TYPES = ("User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy")


def _inline(kind: str, entries: list[tuple[str, str]]) -> list[Shape]:
    return [
        {"PolicyName": name, "PolicyDocument": documents.decode(text)} for name, text in entries
    ]


async def _inline_of(iam: IAM, kind: Any, name: str) -> list[tuple[str, str]]:
    found = []
    for policy_name in await iam.list_inline_policies(kind, name):
        found.append((policy_name, (await iam.get_inline_policy(kind, name, policy_name)).document))
    return found


async def _attached(iam: IAM, kind: Any, name: str) -> list[Shape]:
    return [responses.attached_policy(p) for p in await iam.list_attached_policies(kind, name)]


async def _users(iam: IAM) -> list[Shape]:
    shapes = []
    for user in await iam.list_users():
        shape = responses.user(await iam.get_user(user.user_name), with_tags=True)
        shape["UserPolicyList"] = _inline("user", await _inline_of(iam, "user", user.user_name))
        shape["GroupList"] = [g.group_name for g in await iam.list_groups_for_user(user.user_name)]
        shape["AttachedManagedPolicies"] = await _attached(iam, "user", user.user_name)
        shapes.append(shape)
    return shapes


async def _groups(iam: IAM) -> list[Shape]:
    shapes = []
    for group in await iam.list_groups():
        shape = responses.group(group)
        shape["GroupPolicyList"] = _inline(
            "group", await _inline_of(iam, "group", group.group_name)
        )
        shape["AttachedManagedPolicies"] = await _attached(iam, "group", group.group_name)
        shapes.append(shape)
    return shapes


async def _roles(iam: IAM) -> list[Shape]:
    shapes = []
    for role in await iam.list_roles():
        shape = responses.role(await iam.get_role(role.role_name), with_tags=True)
        shape["InstanceProfileList"] = []
        shape["RolePolicyList"] = _inline("role", await _inline_of(iam, "role", role.role_name))
        shape["AttachedManagedPolicies"] = await _attached(iam, "role", role.role_name)
        shapes.append(shape)
    return shapes


async def _policies(iam: IAM, *, local: bool, aws: bool) -> list[Shape]:
    scope: Literal["All", "AWS", "Local"] = (
        "All" if local and aws else ("Local" if local else "AWS")
    )
    shapes = []
    for policy in await iam.list_policies(scope=scope):
        shape = responses.policy(policy)
        shape["PolicyVersionList"] = [
            responses.policy_version(version)
            for version in await iam.list_policy_versions(policy.arn)
        ]
        shapes.append(shape)
    return shapes


@operation(
    "GetAccountAuthorizationDetails",
    "show every user, group, role and policy of the account and how they relate",
    Param("Filter", "strings", help=f"entity types to include: {', '.join(ENTITY_TYPES)}"),
)
async def _get_account_authorization_details(iam: IAM, args: Args) -> Shape:
    wanted = set(args.strings("Filter")) or set(ENTITY_TYPES)
    unknown = sorted(wanted - set(ENTITY_TYPES))
    if unknown:
        raise InvalidInput(
            f"Value '{unknown[0]}' at 'filter' failed to satisfy constraint: Member must "
            f"satisfy enum value set: [{', '.join(ENTITY_TYPES)}]"
        )
    result: Shape = {
        "UserDetailList": await _users(iam) if "User" in wanted else [],
        "GroupDetailList": await _groups(iam) if "Group" in wanted else [],
        "RoleDetailList": await _roles(iam) if "Role" in wanted else [],
    }
    local, aws = "LocalManagedPolicy" in wanted, "AWSManagedPolicy" in wanted
    result["Policies"] = await _policies(iam, local=local, aws=aws) if local or aws else []
    return result


# --- simulations ------------------------------------------------------------------------------

_POLICY_FIELDS = ("PolicyInputList", "PermissionsBoundaryPolicyInputList", "ResourcePolicy")
_SIMULATION_PARAMS = (
    Param("ActionNames", "strings", required=True, help="the actions to simulate"),
    Param("ResourceArns", "strings", help="the resources to simulate (`*` by default)"),
    Param("ResourcePolicy", help="a resource-based policy to include"),
    Param("ResourceOwner", help="the account that owns the resources"),
    Param("CallerArn", help="the principal a resource policy is matched against"),
    Param("ContextEntries", "context", help="condition keys and values, as a JSON list"),
    Param("PermissionsBoundaryPolicyInputList", "strings", help="permissions boundary documents"),
)


def _simulate(request: dict[str, object]) -> Shape:
    try:
        return simulate_custom_policy({k: v for k, v in request.items() if v is not None})
    except PolicyError as exc:
        code = "MalformedPolicyDocument" if exc.path.startswith(_POLICY_FIELDS) else "InvalidInput"
        raise InvalidInput(str(exc), code=code) from None


def _request(args: Args, policies: list[str], boundaries: list[str]) -> dict[str, object]:
    return {
        "PolicyInputList": policies,
        "PermissionsBoundaryPolicyInputList": boundaries or None,
        "ActionNames": args.strings("ActionNames"),
        "ResourceArns": args.strings("ResourceArns") or None,
        "ResourcePolicy": args.maybe_text("ResourcePolicy"),
        "ResourceOwner": args.maybe_text("ResourceOwner"),
        "CallerArn": args.maybe_text("CallerArn"),
        "ContextEntries": args.raw("ContextEntries"),
    }


@operation(
    "SimulateCustomPolicy",
    "simulate requests against the given policy documents",
    Param("PolicyInputList", "strings", required=True, help="identity policy documents"),
    *_SIMULATION_PARAMS,
)
async def _simulate_custom_policy(iam: IAM, args: Args) -> Shape:
    return _simulate(
        _request(
            args,
            args.strings("PolicyInputList"),
            args.strings("PermissionsBoundaryPolicyInputList"),
        )
    )


async def _group_grants(iam: IAM, name: str) -> Grants:
    inline = [
        PolicySource(f"group/{name}/{policy}", text)
        for policy, text in await _inline_of(iam, "group", name)
    ]
    attached = [
        PolicySource(p.policy_arn, await iam.policy_document(p.policy_arn))
        for p in await iam.list_attached_policies("group", name)
    ]
    return Grants(tuple(inline + attached), None)


async def _grants_of(iam: IAM, arn: str) -> Grants:
    prefix = f"arn:aws:iam::{iam.account_id}:"
    kind, _, rest = arn.removeprefix(prefix).partition("/")
    name = rest.rsplit("/", 1)[-1]
    if not arn.startswith(prefix) or not name or kind not in ("user", "group", "role"):
        raise InvalidInput(
            f"Invalid Entity Arn: {arn[:256]} does not name a user, group or role of this account",
            code="InvalidInput",
        )
    if kind == "user":
        return await iam.user_grants(await iam.get_user(name))
    if kind == "role":
        return await iam.role_grants(await iam.get_role(name))
    return await _group_grants(iam, name)


def _rename(results: list[Shape], field: str, names: list[str]) -> None:
    # The principal's own policies come first: name them instead of `Field.N`.
    for result in results:
        for statement in result.get("MatchedStatements", []):
            source = str(statement.get("SourcePolicyId", ""))
            head, _, number = source.rpartition(".")
            if head != field or not number.isdigit():
                continue
            index = int(number) - 1
            if index < len(names):
                statement["SourcePolicyId"] = names[index]
            else:
                statement["SourcePolicyId"] = f"{field}.{index - len(names) + 1}"


@operation(
    "SimulatePrincipalPolicy",
    "simulate requests against a user's, group's or role's policies",
    Param("PolicySourceArn", required=True, help="the ARN of the user, group or role"),
    Param("PolicyInputList", "strings", help="more identity policy documents to include"),
    *_SIMULATION_PARAMS,
)
async def _simulate_principal_policy(iam: IAM, args: Args) -> Shape:
    source = args.text("PolicySourceArn")
    grants = await _grants_of(iam, source)
    own = [policy.document for policy in grants.identity]
    bounds = [grants.boundary.document] if grants.boundary is not None else []
    request = _request(
        args,
        own + args.strings("PolicyInputList"),
        bounds + args.strings("PermissionsBoundaryPolicyInputList"),
    )
    if request["CallerArn"] is None and ":user/" in source:
        request["CallerArn"] = source
    result = _simulate(request)
    results = result.get("EvaluationResults", [])
    _rename(results, "PolicyInputList", [policy.policy_id for policy in grants.identity])
    boundary_names = [grants.boundary.policy_id] if grants.boundary is not None else []
    _rename(results, "PermissionsBoundaryPolicyInputList", boundary_names)
    return result
