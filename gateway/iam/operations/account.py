"""
The IAM operations on the account itself: its password policy and its alias.

Part of the IAM service layer: imports nothing from the edge or the CLI.
"""

from __future__ import annotations

from gateway.iam import responses
from gateway.iam.operations.params import Args, Param
from gateway.iam.operations.registry import operation
from gateway.iam.responses import Shape
from gateway.iam.service import IAM

# --- the account ------------------------------------------------------------------------------

_PASSWORD_POLICY_PARAMS = (
    Param("MinimumPasswordLength", "integer", help="6 to 128 (default 8)"),
    Param("RequireSymbols", "boolean", help="require one of !@#$%%^&*()_+-=[]{}|'"),
    Param("RequireNumbers", "boolean", help="require a digit"),
    Param("RequireUppercaseCharacters", "boolean", help="require an uppercase letter"),
    Param("RequireLowercaseCharacters", "boolean", help="require a lowercase letter"),
    Param("AllowUsersToChangePassword", "boolean", help="users may change their own password"),
    Param("MaxPasswordAge", "integer", help="days a password is valid, 1 to 1095"),
    Param("PasswordReusePrevention", "integer", help="previous passwords refused, 1 to 24"),
    Param("HardExpiry", "boolean", help="an expired password can only be reset by an admin"),
)


@operation(
    "UpdateAccountPasswordPolicy",
    "set the account password policy (omitted fields take their defaults)",
    *_PASSWORD_POLICY_PARAMS,
)
async def _update_password_policy(iam: IAM, args: Args) -> Shape:
    await iam.update_account_password_policy(**dict(args.values))
    return {}


@operation("GetAccountPasswordPolicy", "show the account password policy")
async def _get_password_policy(iam: IAM, args: Args) -> Shape:
    return {"PasswordPolicy": responses.password_policy(await iam.get_account_password_policy())}


@operation("DeleteAccountPasswordPolicy", "remove the account password policy")
async def _delete_password_policy(iam: IAM, args: Args) -> Shape:
    await iam.delete_account_password_policy()
    return {}


ALIAS = Param("AccountAlias", required=True, help="the alias used in the sign-in URL")


@operation("CreateAccountAlias", "set the account alias (sign-in URL)", ALIAS)
async def _create_account_alias(iam: IAM, args: Args) -> Shape:
    await iam.create_account_alias(args.text("AccountAlias"))
    return {}


@operation("DeleteAccountAlias", "remove the account alias", ALIAS)
async def _delete_account_alias(iam: IAM, args: Args) -> Shape:
    await iam.delete_account_alias(args.text("AccountAlias"))
    return {}


@operation("ListAccountAliases", "list the account alias")
async def _list_account_aliases(iam: IAM, args: Args) -> Shape:
    return {"AccountAliases": await iam.list_account_aliases()}
