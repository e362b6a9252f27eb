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


def test_as_own_classes_matches_select_subclasses(user):
    """Each job as its own class, with the same field values and order as
    ``select_subclasses()``, and one model instance per job."""
    from django.db.models.signals import post_init
    from django.forms.models import model_to_dict

    from tethys_compute.models import CondorJob, CondorScheduler, CondorWorkflow

    scheduler = CondorScheduler.objects.create(name="c", host="localhost")
    make(user, "RUN", cls=DaskJob)
    make(user, "SUB", cls=CondorJob, scheduler=scheduler,
         condorpy_template_name="vanilla_base", attributes={"executable": "/bin/true"})
    make(user, "PEN")
    make(user, "SUB", cls=CondorWorkflow, scheduler=scheduler)
    make(user, "COM", cls=DaskJob)
    jobs = TethysJob.objects.filter(_status__in=["RUN", "SUB", "PEN"]).order_by("-pk")
    built = []

    def count(sender, instance, **kwargs):
        built.append(instance)

    post_init.connect(count, weak=False)
    try:
        ours = jobs.as_own_classes()
    finally:
        post_init.disconnect(count)
    theirs = list(jobs.select_subclasses())
    assert [type(j) for j in ours] == [type(j) for j in theirs] == [
        CondorWorkflow, BasicJob, CondorJob, DaskJob]
    assert [j.pk for j in ours] == [j.pk for j in theirs]
    assert [model_to_dict(j) for j in ours] == [model_to_dict(j) for j in theirs]
    assert ours[2].attributes == theirs[2].attributes
    assert len(built) == 4
    assert TethysJob.objects.none().as_own_classes() == []
