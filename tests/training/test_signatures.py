"""Forms signed by several people in order, in the portal or by scanned copy;
forms the agency files; blank versions and signing again (seed 004)."""

import hashlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from hmis_access.checklist import build_checklist
from hmis_portal.core.audit import events_for
from hmis_portal.core.models import Notification
from tests.factories import MembershipFactory, StaffFactory
from tests.training.factories import PDF, blank_form, identify, participating, pdf
from training import services
from training.models import FormSignature, FormSubmission, RequiredForm, Review

pytestmark = pytest.mark.django_db

ATTEST = "I have read the HMIS User Agreement and agree to its terms."


def three_signers(**changes):
    """The User Agreement as seed 004's CoC has it: the user, then the Agency
    Administrator, then the Executive Director, in the portal or by upload."""
    form = RequiredForm.objects.get(code="user-agreement")
    values = {"signers": ["user", "agency_administrator", "executive_director"], "signing": "either",
              "attestation": ATTEST, "verify_portal_signatures": False, **changes}
    RequiredForm.objects.filter(pk=form.pk).update(**values)
    form.refresh_from_db()
    return form


@pytest.fixture
def people(organization):
    programs = participating(organization, "access-center")
    request = identify(organization, name="Robin Example", programs=[programs["access-center"]])
    return {
        "request": request,
        "user": request.user,
        "aa": MembershipFactory(organization=organization, persona="agency_administrator").user,
        "ed": MembershipFactory(organization=organization, persona="executive_director").user,
    }


def _agreement_item(people):
    return next(i for i in build_checklist(people["request"]).items if i.kind == "form" and i.obj.code ==
                "user-agreement")


def sign(actor, form, owner, name=None, attested=True):
    return services.form_sign(actor=actor, form=form, owner=owner, typed_name=name or actor.full_name,
                              attested=attested)


def test_the_signers_sign_in_order_and_the_last_signature_completes_the_form(people):
    form = three_signers()
    blank_form("user-agreement")
    user, aa, ed = people["user"], people["aa"], people["ed"]

    # The Agency Administrator cannot sign before the user, nor the Executive Director before either.
    with pytest.raises(ValidationError, match="The user signs User Agreement before you"):
        sign(aa, form, user)
    assert not FormSubmission.objects.exists()
    submission = sign(user, form, user)
    assert submission.status == Review.SIGNING
    with pytest.raises(ValidationError, match="Agency Administrator signs User Agreement before you"):
        sign(ed, form, user)
    item = _agreement_item(people)
    assert (item.done, item.next_role) == (False, "agency_administrator")
    assert "Signed by 1 of 3; next: Agency Administrator" in item.status
    sign(aa, form, user)
    sign(ed, form, user)

    submission.refresh_from_db()
    assert submission.status == Review.VERIFIED
    assert [(s.position, s.role, s.signer) for s in submission.signatures.all()] == [
        (0, "user", user), (1, "agency_administrator", aa), (2, "executive_director", ed)]
    assert _agreement_item(people).done


def test_the_next_signer_is_told_with_a_link(people):
    form = three_signers()
    blank_form("user-agreement")
    sign(people["user"], form, people["user"])
    message = Notification.objects.get(to_email=people["aa"].email, subject__startswith="Your signature is needed")
    assert message.link == reverse("training:form-person", kwargs={"code": form.code, "user_id": people["user"].pk})
    assert not Notification.objects.filter(to_email=people["ed"].email, subject__startswith="Your signature").exists()


def test_a_portal_signature_keeps_the_name_attestation_moment_and_hash_on_the_row_and_in_the_audit(people):
    form = three_signers()
    template = blank_form("user-agreement")
    assert template.sha256 == hashlib.sha256(PDF).hexdigest()
    user = people["user"]
    submission = sign(user, form, user, name=f"  {user.full_name.upper()} ")
    signature = submission.signatures.get()
    assert (signature.method, signature.typed_name.casefold(), signature.attestation, signature.sha256) == (
        "portal", user.full_name.casefold(), ATTEST, template.sha256)
    assert submission.template == template
    event = events_for(submission).get(verb="signed form in the portal")
    assert event.actor == user
    assert event.data["sha256"] == template.sha256 and event.data["attestation"] == ATTEST
    assert event.data["role"] == "user" and event.data["blank_version"] == 1 and event.data["signed_at"]


def test_a_wrong_name_or_no_attestation_is_refused_and_nothing_is_signed(people):
    form = three_signers()
    blank_form("user-agreement")
    user = people["user"]
    with pytest.raises(ValidationError) as caught:
        sign(user, form, user, name="Somebody Else")
    assert "typed_name" in caught.value.error_dict
    with pytest.raises(ValidationError) as caught:
        sign(user, form, user, attested=False)
    assert "attested" in caught.value.error_dict
    assert not FormSignature.objects.exists() and not FormSubmission.objects.exists()


def test_nobody_signs_in_another_persons_place(people, other_organization):
    form = three_signers()
    blank_form("user-agreement")
    user, aa = people["user"], people["aa"]
    with pytest.raises(ValidationError, match="The user signs User Agreement before you"):
        sign(aa, form, user, name=aa.full_name)  # the user's place
    with pytest.raises(PermissionDenied, match="nobody signs in another's place"):
        sign(people["ed"], RequiredForm.objects.get(code="hmis-10-acknowledgement"), user)
    other_aa = MembershipFactory(organization=other_organization, persona="agency_administrator").user
    staff_member = MembershipFactory(organization=people["request"].organization, persona="staff").user
    sign(user, form, user)
    for stranger in (other_aa, staff_member, StaffFactory(groups=["CoC training"])):
        with pytest.raises(PermissionDenied):
            sign(stranger, form, user)
    with pytest.raises(ValidationError, match="already signed"):
        sign(user, form, user)
    assert FormSignature.objects.count() == 1


def test_portal_signing_needs_the_blank_version(people):
    form = three_signers()
    with pytest.raises(ValidationError, match="not available yet"):
        sign(people["user"], form, people["user"])


def test_an_uploaded_copy_is_verified_by_training_staff_and_a_return_restarts_the_signing(people):
    form = three_signers()
    blank_form("user-agreement")
    user, aa, ed = people["user"], people["aa"], people["ed"]
    sign(user, form, user)
    services.form_submit(actor=aa, form=form, owner=user, document=pdf())
    submission = services.form_submit(actor=ed, form=form, owner=user, document=pdf())
    assert submission.status == Review.SUBMITTED  # a scanned copy is checked by a person
    assert submission.signatures.get(position=2).sha256 == hashlib.sha256(PDF).hexdigest()
    trainer = StaffFactory(groups=["CoC training"])
    services.form_return(actor=trainer, submission_id=submission.pk, reason="The ED's page is missing")
    assert Notification.objects.filter(to_email=user.email, subject="User Agreement returned").exists()

    with pytest.raises(ValidationError, match="The user signs"):
        sign(aa, form, user)
    again = sign(user, form, user)
    assert (again.version, again.status, again.signatures.count()) == (2, Review.SIGNING, 1)


def test_in_portal_signatures_wait_for_training_staff_when_the_policy_says_so(people):
    form = three_signers(verify_portal_signatures=True)
    blank_form("user-agreement")
    for who in ("user", "aa", "ed"):
        submission = sign(people[who], form, people["user"])
    assert submission.status == Review.SUBMITTED
    services.form_verify(actor=StaffFactory(groups=["CoC training"]), submission_id=submission.pk)
    assert _agreement_item(people).done


def test_a_form_the_agency_files_is_filed_by_its_administrator_not_the_user(people, client):
    request_form = RequiredForm.objects.create(code="user-request-form", title="User Request Form",
                                               filed_by="agency_administrator", sort_order=9)
    user, aa = people["user"], people["aa"]
    item = next(i for i in build_checklist(people["request"]).items if i.obj == request_form)
    assert item.label == "User Request Form (filed by the agency's Agency Administrator)"
    assert (item.action_url, item.next_role, item.action_label) == ("", "agency_administrator", "File")
    with pytest.raises(PermissionDenied):
        services.form_submit(actor=user, form=request_form, document=pdf())

    # On the user's page the user sees it but has nothing to do; the agency's page of the user offers the filing.
    client.force_login(user)
    assert "File" not in client.get(reverse("my-access")).content.decode().split("User Request Form")[1][:200]
    client.force_login(aa)
    detail = client.get(reverse("access-request-detail", args=[people["request"].organization.slug,
                                                               people["request"].pk])).content.decode()
    assert item.agency_url in detail
    response = client.post(item.agency_url, {"document": pdf()}, follow=True)
    assert "CoC training staff will verify it" in response.content.decode()
    submission = FormSubmission.objects.get(form=request_form)
    assert (submission.user, submission.status, submission.signatures.get().signer) == (user, "submitted", aa)


def test_another_agencys_person_form_page_is_a_404(people, other_organization, client):
    three_signers()
    outsider = MembershipFactory(organization=other_organization, persona="agency_administrator").user
    client.force_login(outsider)
    url = reverse("training:form-person", kwargs={"code": "user-agreement", "user_id": people["user"].pk})
    assert client.get(url).status_code == 404
    assert client.post(url, {"typed_name": outsider.full_name, "attested": "on"}).status_code == 404
    assert not FormSignature.objects.exists()


def test_the_signing_page_shows_who_signed_when_and_who_is_next(people, client):
    form = three_signers()
    blank_form("user-agreement")
    user, aa = people["user"], people["aa"]
    client.force_login(user)
    page = client.get(reverse("training:form-upload", kwargs={"code": form.code})).content.decode()
    assert ATTEST in page and "Download the blank User Agreement (version 1)" in page
    response = client.post(reverse("training:form-upload", kwargs={"code": form.code}),
                           {"typed_name": "Wrong Name", "attested": "on"})
    assert "Type your full name exactly" in response.content.decode()
    response = client.post(reverse("training:form-upload", kwargs={"code": form.code}),
                           {"typed_name": user.full_name, "attested": "on"}, follow=True)
    assert "Next to sign: Agency Administrator" in response.content.decode()
    client.force_login(people["ed"])
    page = client.get(reverse("training:form-person", kwargs={"code": form.code, "user_id": user.pk})).content.decode()
    assert f"signed by {user.full_name}" in page and "next to sign" in page
    assert "Waiting for the agency&#x27;s Agency Administrator to sign." in page, page
    assert 'name="typed_name"' not in page
    response = client.post(reverse("training:form-person", kwargs={"code": form.code, "user_id": user.pk}),
                           {"typed_name": people["ed"].full_name, "attested": "on"})
    assert "signs User Agreement before you" in response.content.decode()
    client.force_login(aa)
    page = client.get(reverse("training:form-person", kwargs={"code": form.code, "user_id": user.pk})).content.decode()
    assert 'name="typed_name"' in page


def test_a_refused_signature_says_what_is_wrong_with_it_not_with_the_upload_beside_it(people, client):
    """The page offers signing and uploading; a refused signature names the
    signature's own fields, and the upload form, not submitted, says nothing."""
    form = three_signers()
    blank_form("user-agreement")
    client.force_login(people["user"])
    url = reverse("training:form-upload", kwargs={"code": form.code})
    for data, words in (({"typed_name": "Wrong Name", "attested": "on"}, "Type your full name exactly"),
                        ({"typed_name": ""}, "This field is required")):
        page = client.post(url, data).content.decode()
        assert words in page, page
        assert page.count("This field is required") == (1 if not data["typed_name"] else 0), page
        assert 'name="document"' in page  # the upload is still offered, unbound
    assert not FormSignature.objects.exists()


def test_the_page_opened_shows_no_problem_with_either_form(people, client):
    """Opening the page sends nothing: neither the signature nor the upload
    beside it says "This field is required" (an empty set of files bound the
    upload form on every visit, and the error summary sent the person to it)."""
    form = three_signers()
    blank_form("user-agreement")
    client.force_login(people["user"])
    page = client.get(reverse("training:form-upload", kwargs={"code": form.code})).content.decode()
    assert 'name="document"' in page and 'name="typed_name"' in page
    assert "This field is required" not in page and "is-invalid" not in page


def test_one_person_signs_one_place_even_with_two_personas(people, organization):
    form = three_signers()
    blank_form("user-agreement")
    aa = people["aa"]
    MembershipFactory(user=aa, organization=organization, persona="executive_director")
    sign(people["user"], form, people["user"])
    sign(aa, form, people["user"])
    with pytest.raises(ValidationError, match="already signed"):
        sign(aa, form, people["user"])


# --- blank versions -----------------------------------------------------------

def test_a_new_blank_version_keeps_signed_copies_unless_they_must_be_signed_again(people):
    user = people["user"]
    trainer = StaffFactory(groups=["CoC training"])
    form = RequiredForm.objects.get(code="user-agreement")
    blank_form("user-agreement")
    submission = services.form_submit(actor=user, form=form, document=pdf())
    services.form_verify(actor=trainer, submission_id=submission.pk)
    second = blank_form("user-agreement")
    assert second.version == 2
    submission.refresh_from_db()
    assert submission.status == Review.VERIFIED

    blank_form("user-agreement", resign_required=True)
    submission.refresh_from_db()
    assert submission.status == Review.RETURNED and "version 3" in submission.reason
    assert events_for(submission).filter(verb="returned form: new version to sign").exists()
    item = _agreement_item(people)
    assert not item.done and item.action_url
    assert Notification.objects.filter(to_email=user.email, subject="Sign the new User Agreement").exists()


def test_only_training_staff_upload_blank_versions():
    with pytest.raises(PermissionDenied):
        blank_form("user-agreement", actor=StaffFactory(groups=["CoC implementation"]))


def test_blank_forms_are_for_their_signers_and_the_coc_staff_who_read_forms(people, client):
    request_form = RequiredForm.objects.create(code="user-request-form", title="User Request Form",
                                               filed_by="agency_administrator", sort_order=9)
    template = blank_form("user-request-form")
    url = reverse("training:form-template-document", args=[template.pk])
    client.force_login(people["aa"])
    assert client.get(url).status_code == 200
    client.force_login(people["user"])  # not a signer of the agency's own form
    assert client.get(url).status_code == 403
    client.force_login(StaffFactory(groups=["CoC implementation"]))
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302
    assert request_form.templates.count() == 1


def test_a_form_being_signed_can_be_returned_and_signers_changed_meanwhile_is_a_clear_refusal(people):
    form = three_signers()
    blank_form("user-agreement")
    user, aa = people["user"], people["aa"]
    submission = sign(user, form, user)
    sign(aa, form, user)
    RequiredForm.objects.filter(pk=form.pk).update(signers=["user", "agency_administrator"])
    form.refresh_from_db()
    assert "Signers changed" in _agreement_item(people).status
    with pytest.raises(ValidationError, match="changed while it was being signed"):
        sign(people["ed"], form, user)
    services.form_return(actor=StaffFactory(groups=["CoC training"]), submission_id=submission.pk,
                         reason="The signers changed")
    assert sign(user, form, user).version == 2


def _home(client, person):
    import html

    client.force_login(person)
    return html.unescape(client.get(reverse("home")).content.decode())


def test_each_signer_finds_their_turn_on_their_home_page(people, client, other_organization):
    form = three_signers()
    blank_form("user-agreement")
    user, aa, ed = people["user"], people["aa"], people["ed"]
    # Another agency's Agency Administrator never signs here.
    stranger = MembershipFactory(organization=other_organization, persona="agency_administrator").user
    task = f"Sign {user}'s {form.title}"
    url = reverse("training:form-person", kwargs={"code": form.code, "user_id": user.pk})
    assert task not in _home(client, aa) and task not in _home(client, ed)
    sign(user, form, user)
    page = _home(client, aa)
    assert task in page and url in page and "as Agency Administrator" in page
    assert task not in _home(client, ed) and task not in _home(client, stranger)
    sign(aa, form, user)
    assert task not in _home(client, aa)
    page = _home(client, ed)
    assert task in page and url in page
    sign(ed, form, user)
    assert task not in _home(client, ed)


def test_whose_turn_it_is_to_sign_is_the_authorization_modules_rule(people):
    from accounts.access import signs_next

    form = three_signers()
    blank_form("user-agreement")
    user, aa, ed = people["user"], people["aa"], people["ed"]
    submission = sign(user, form, user)
    assert signs_next(aa, user, "agency_administrator") and not signs_next(ed, user, "agency_administrator")
    assert not signs_next(user, user, "agency_administrator") and signs_next(ed, user, "executive_director")
    assert submission.status == Review.SIGNING


def test_the_users_items_left_count_only_their_own_and_the_rest_wait_on_others(people, client):
    import html

    from hmis_portal.core.work import open_tasks_for

    request_form = RequiredForm.objects.create(code="user-request-form", title="User Request Form",
                                               filed_by="agency_administrator", sort_order=9)
    user = people["user"]
    checklist = build_checklist(people["request"])
    own = [item for item in checklist.blockers if not item.waiting_on]
    others = [item for item in checklist.blockers if item.waiting_on]
    assert request_form in [item.obj for item in others] and request_form not in [item.obj for item in own]
    [task] = [t for t in open_tasks_for(user) if t.section == "HMIS access"]
    assert task.title == f"Finish your HMIS access checklist ({len(own)} item{'s' if len(own) != 1 else ''} left)"
    assert "Waiting on others: User Request Form" in task.detail
    # On the checklist, what others must do waits (⏳ and who), it is not a failure (✘).
    client.force_login(user)
    page = html.unescape(client.get(reverse("my-access")).content.decode())
    row = page.split("User Request Form (filed by")[1].split("</tr>")[0]
    assert "⏳" in row and "Waiting on the agency's Agency Administrator" in row and "✘" not in row


def test_a_form_awaiting_verification_waits_on_training_staff_and_is_no_failure(people, client):
    import html

    form = RequiredForm.objects.get(code="user-agreement")
    services.form_submit(actor=people["user"], form=form, document=pdf())
    item = _agreement_item(people)
    assert not item.done and item.waiting_on == "CoC training staff, to verify it"
    client.force_login(people["user"])
    page = html.unescape(client.get(reverse("my-access")).content.decode())
    row = page.split("Signed User Agreement")[1].split("</tr>")[0]
    assert "⏳" in row and "✘" not in row
