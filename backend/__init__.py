"""ModelPicker's Label Studio ML backend: ranks candidate models from annotations, orders the queue.

Start it with ``python -m backend`` (settings from the environment, see
:mod:`backend.settings`); build the Flask app in code with
:func:`backend.app.create_app`.
"""
