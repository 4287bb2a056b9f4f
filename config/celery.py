"""The Celery application.

Queues: ``gpu`` runs generation jobs (one process per GPU, prefetch 1, late acks) and
``cpu`` runs light work (the reconciler, thumbnails, embeddings). The job table, not the broker,
is the truth about a job: see ``generation.models.GenerationJob``. Every option lives in
``config/settings.py`` under the ``CELERY_`` prefix.
"""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("atelier")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

import config.logs  # noqa: E402, F401  (connects the job-id logging signals)


@signals.worker_init.connect
def _tune_embedded_broker(**kwargs: object) -> None:
    """Poll the embedded SQLite broker often enough for a snappy UI.

    Setting ``polling_interval`` in ``broker_transport_options`` crashes the first publish (it
    is passed to SQLAlchemy's ``create_engine``), so it goes on the transport class instead.
    """
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("sqla+"):
        from kombu.transport import sqlalchemy as kombu_sqlalchemy

        kombu_sqlalchemy.Transport.polling_interval = settings.CELERY_BROKER_POLLING_INTERVAL
