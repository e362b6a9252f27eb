from django.db import models


class EngineLease(models.Model):
    """A named lease on engine work shared by every process (see
    :func:`tethys_compute.leases.claim_named`): while a process refreshes the jobs of one
    scheduler for a jobs table, it holds the lease named after that scheduler, so other
    polls, in any process, do not start the same slow engine query again.

    ``owner`` is who holds it (``None``: free) and ``expires`` when it stops holding (a
    crashed holder's lease runs out).
    """

    name = models.CharField(max_length=255, primary_key=True)
    owner = models.CharField(max_length=64, blank=True, null=True)
    expires = models.DateTimeField(blank=True, null=True)

    class Meta:
        verbose_name = "engine lease"

    def __str__(self):
        return f"{self.name} ({self.owner or 'free'})"
