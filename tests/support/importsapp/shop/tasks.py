"""Tasks found by ``app.autodiscover_tasks()`` only (Django style)."""

from celery import shared_task


@shared_task(name='importsapp.shop.total')
def total(*prices):
    return sum(prices)
