"""Local servers that speak each platform's protocol, for the tests and ``plaza bench``.

``telegram_server`` is a Bot API server, ``x_server`` an X API v2 server with a
signed webhook sender, ``mastodon_server`` runs ``mastodon-mock`` (a dev
dependency) seeded with the town's bot and residents. They listen on loopback
ports only; none of them forwards anything to a real platform.
"""
