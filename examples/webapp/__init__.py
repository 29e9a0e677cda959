"""Activity planner: an example relying party, a server-side web app that signs members in with Latch."""
