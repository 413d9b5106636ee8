"""The caller's side of a session: inviting them, what their page and their phone send, and what
they agreed to.

Inviting (`invitations`), the number texted (`phones`), the user agent that opens the link
(`useragents`), the consent text (`consent`), fixes from any route (`positions`, `aml_intake`),
the page's status reports (`caller_status`), the silent conversation (`conversation`), the HTTPS
fallback (`fallback`), and `callers`, which wires them together and follows the link's life.
Nothing here speaks HTTP: `gateway.web.caller` translates requests into these calls.
"""
