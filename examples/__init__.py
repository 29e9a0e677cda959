"""Example apps that use Latch the way the association's own apps do (see each one's README.md)."""
