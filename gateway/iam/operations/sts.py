"""
Gateway operations on role sessions: revoke the active sessions of a role.

``RevokeRoleSessions`` does what the AWS console's "Revoke active sessions" does:
it puts the inline policy ``AWSRevokeOlderSessions`` on the role, which denies
every action to sessions whose ``aws:TokenIssueTime`` is before now. Sessions
issued afterwards are not affected; running it again moves the time forward.
Delete the inline policy to lift it. Not an AWS IAM API operation (AWS does
this with ``PutRolePolicy``); ``gateway iam revoke-role-sessions --role-name R``.

Part of the IAM service layer: imports nothing from the edge or the CLI.
"""

from __future__ import annotations

from gateway.iam.operations.params import ROLE, Args
from gateway.iam.operations.registry import operation
from gateway.iam.responses import Shape
from gateway.iam.service import IAM
from gateway.iam.sts import REVOKE_POLICY_NAME, revocation_policy


@operation(
    "RevokeRoleSessions",
    "revoke every session of a role issued until now (AWS's AWSRevokeOlderSessions policy)",
    ROLE,
)
async def _revoke_role_sessions(iam: IAM, args: Args) -> Shape:
    name = args.text("RoleName")
    before = iam.clock()
    await iam.put_inline_policy("role", name, REVOKE_POLICY_NAME, revocation_policy(before))
    return {
        "RoleName": name,
        "PolicyName": REVOKE_POLICY_NAME,
        "TokenIssueTimeBefore": before.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
