"""Runnable examples of wattzon-async.

Each module is a script (``python examples/<name>.py --help``) and is also importable,
so that the test suite runs every example against the local emulator:

* ``batch_to_csv``: a folder of bills to a CSV file of their transformed results.
* ``sqs_worker``: a stateless SQS worker that upserts each job's results into SQLite.
* ``fastapi_app``: a FastAPI service that accepts bills and serves their fields.
"""
