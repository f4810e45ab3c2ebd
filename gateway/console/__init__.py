"""
The web console: sign-in with password and TOTP, sessions, self-service
credentials and the IAM admin pages, server-rendered with Jinja2.

``cookies`` (session cookies and the principal of a session) is imported by the
guard and stays free of Starlette and Jinja2; ``app`` builds the Starlette
application that ``GatewayApp`` mounts at ``/_gateway/signin``,
``/_gateway/signout``, ``/_gateway/console`` and ``/_gateway/static``.
"""
