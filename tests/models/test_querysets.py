import pytest
from django.contrib.auth.models import Group, Permission

from tethys_compute.models import BasicJob, DaskJob, TethysJob

pytestmark = pytest.mark.django_db


def make(user, status="PEN", label="test_app", cls=BasicJob, **kwargs):
    job = cls.objects.create(name=status, user=user, label=label, **kwargs)
    TethysJob.objects.filter(pk=job.pk).update(_status=status)
    return job


def test_active_and_terminal(user):
    for code in TethysJob.VALID_STATUSES:
        if code != "OTH":
            make(user, code)
    make(user, "OTH", extended_properties={"__other_status__": "Checking"})
    active = {j.name for j in TethysJob.objects.active()}
    terminal = {j.name for j in TethysJob.objects.terminal()}
    assert active == {"PEN", "SUB", "RUN", "VAR", "PAS", "OTH"}
    assert terminal == {"COM", "ERR", "ABT", "VCP", "RES"}


def test_custom_terminal_other_status_is_terminal_in_queries(user):
    class Gate(BasicJob):
        class Meta:
            proxy = True
            app_label = "testapp"

    Gate.add_custom_terminal_status("Rejected")
    make(user, "OTH", extended_properties={"__other_status__": "Rejected"})
    assert TethysJob.objects.terminal().count() == 1
    assert TethysJob.objects.active().count() == 0


def test_for_app_and_select_subclasses(user):
    make(user, label="a")
    make(user, label="b", cls=DaskJob)
    jobs = list(TethysJob.objects.for_app("b").select_subclasses())
    assert [type(j) for j in jobs] == [DaskJob]


def test_visible_to(user, other_user, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    own = make(user)
    theirs = make(other_user)
    group = Group.objects.create(name="lab")
    shared = make(other_user)
    shared.groups.add(group)
    shared2 = make(other_user)
    shared2.groups.add(group, Group.objects.create(name="lab2"))
    user.groups.add(group, Group.objects.get(name="lab2"))
    def pks(qs):
        return {j.pk for j in qs}

    assert pks(TethysJob.objects.visible_to(user)) == {own.pk, shared.pk, shared2.pk}
    assert TethysJob.objects.visible_to(user).count() == 3, "each job once"
    assert pks(TethysJob.objects.visible_to(other_user)) == {theirs.pk, shared.pk, shared2.pk}
    assert not TethysJob.objects.visible_to(AnonymousUser()).exists()
    assert not TethysJob.objects.visible_to(None).exists()
    admin = django_user_model.objects.create_user("carol")
    admin.user_permissions.add(Permission.objects.get(codename="jobs_table_actions"))
    admin = django_user_model.objects.get(pk=admin.pk)
    assert TethysJob.objects.visible_to(admin).count() == 4
    staff = django_user_model.objects.create_user("dave", is_staff=True)
    assert not TethysJob.objects.visible_to(staff).exists(), "staff alone is not enough"

