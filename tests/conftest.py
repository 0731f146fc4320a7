"""Session-wide fixtures: the shared Label Studio (``label_studio``, see tests/support/pytest_label_studio.py)
and the shared MLflow server (``mlflow_server``, see tests/support/pytest_mlflow.py)."""
pytest_plugins = ["tests.support.pytest_label_studio", "tests.support.pytest_mlflow"]
