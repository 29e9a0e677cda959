"""Small building blocks shared by several apps (not an app itself: no models, no migrations)."""
