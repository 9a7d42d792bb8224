from django.conf import settings
from django.db import models


class SecondFactorSetUp(models.Model):
    """When a member of staff's time to set up their authenticator app with their password
    alone last began: a reset of their second factor (casino_platform.second_factor), their
    being made staff or switched back on, or the release that brought this in, for staff who
    had none then. Without a row it began the day they joined. It lasts
    STAFF_SECOND_FACTOR_SET_UP_HOURS: past it, whoever learns the password of a member of
    staff who never set one up cannot make the back office theirs."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="second_factor_set_up"
    )
    opened_at = models.DateTimeField()

    class Meta:
        verbose_name = "second factor set-up"

    def __str__(self) -> str:
        return f"{self.user_id}: set-up from {self.opened_at:%Y-%m-%d %H:%M}"
