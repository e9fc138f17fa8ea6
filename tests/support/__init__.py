"""Test support: databases, a chat driver, and (later) local servers that speak each platform's protocol."""
