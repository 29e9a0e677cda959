from tests.oauth.conftest import application, browser, member

__all__ = ["application", "browser", "member"]
