"""Session-wide fixtures: the shared Label Studio (``label_studio``, see tests/support/pytest_label_studio.py)."""
pytest_plugins = ["tests.support.pytest_label_studio"]
