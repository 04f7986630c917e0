from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts import access
from accounts.admin_base import PolicyAdmin, PortalAdmin
from accounts.models import Persona
from hmis_portal.core.inputs import TextValidationMixin
from hmis_portal.core.admin import AuditTimelineInline
from hmis_portal.core.errors import REFUSALS, refusal_messages

from .checklist import build_checklist, build_checklists, for_checklists
from .models import AccessPolicy, AccessRequest
from .selectors import proposed_hmis_username
from .services import access_request_approve, access_request_decline, access_request_grant, granted_roles


class AccessPolicyForm(forms.ModelForm):
    """Who may request access as ticked personas (stored as their codes)."""

    access_requesters = forms.MultipleChoiceField(
        label="Who may request access", choices=Persona.choices, widget=forms.CheckboxSelectMultiple,
        help_text="The agency personas who ask for a person's HMIS access.")

    class Meta:
        model = AccessPolicy
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["access_requesters"] = self.instance.requester_personas

    def clean_access_requesters(self):
        return ",".join(self.cleaned_data["access_requesters"])


@admin.register(AccessPolicy)
class AccessPolicyAdmin(PolicyAdmin):
    view_work = access.Work.PROVISION
    change_work = access.Work.ACCESS_POLICY

    form = AccessPolicyForm


# --- access requests: the provisioning staff's side ------------------------

class GrantForm(TextValidationMixin, forms.Form):
    hmis_username = forms.CharField(label="HMIS username", max_length=150)
    hmis_role = forms.ChoiceField(label="HMIS role", choices=(),
                                  help_text="The highest-ranked of the user's CES roles, unless you have a reason.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The CoC's roles (policy rows), so no made-up role can be granted.
        self.fields["hmis_role"].choices = [(role, role) for role in granted_roles()]


class ApproveForm(forms.Form):
    """Nothing to ask: the page confirms the approval."""


class DeclineForm(TextValidationMixin, forms.Form):
    reason = forms.CharField(label="Why the request is declined", max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 4}), help_text="The agency is told.")


@admin.register(AccessRequest)
class AccessRequestAdmin(PortalAdmin):
    view_work = access.Work.USER_ACCESS
    change_work = access.Work.PROVISION
    addable = deletable = False

    change_form_template = "hmis_access/admin/accessrequest_change_form.html"
    # Separation of duties: not a request one made, nor of one's own agency, nor one's own.
    transitions = {"approve": access.can_approve_access, "decline": access.can_approve_access}
    list_display = ("user", "organization", "status", "provisioning_due_at", "ready_at", "provisioned_at")
    list_filter = ("status", "organization")
    search_fields = ("user__email", "user__full_name", "organization__name", "hmis_username")
    list_select_related = ("user", "organization")
    ordering = ("provisioning_due_at", "-created_at")
    fields = ("user", "organization", "new_hmis_user", "status", "checklist", "grant", "ready_at",
              "provisioning_due_at", "provisioned_at", "provisioned_by", "hmis_username", "hmis_role",
              "requested_by", "created_at", "decided_by", "decided_at", "decline_reason")
    readonly_fields = fields
    inlines = [AuditTimelineInline]
    actions = ["approve_selected"]

    @admin.action(description="Approve the selected requests awaiting CoC approval", permissions=["approve"])
    def approve_selected(self, request, queryset):
        self.run_each(request, queryset,
                      lambda r: access_request_approve(actor=request.user, access_request_id=r.pk),
                      "{n} request{s} approved; each user was told what comes next.")

    def has_approve_permission(self, request):
        return access.can_work_access_approvals(request.user)

    def get_object(self, request, object_id, from_field=None):
        """The request once per page, with what its fields and checklist show
        (the change page asks for it twice: for the approval and for the form)."""
        read = request.__dict__.setdefault("_access_requests_read", {})
        if object_id not in read:
            queryset = for_checklists(self.get_queryset(request)).select_related("provisioned_by", "decided_by")
            try:
                read[object_id] = queryset.get(pk=AccessRequest._meta.pk.to_python(object_id))
            except (AccessRequest.DoesNotExist, ValidationError):
                read[object_id] = None
        return read[object_id]

    @admin.display(description="checklist")
    def checklist(self, obj):
        result = build_checklists([obj], prefetched=True)[0]
        rows = format_html_join(
            "", "<li>{} {} — {}</li>",
            (("✔" if item.done else "✘", item.label, item.status) for item in result.items),
        )
        return format_html("<ul>{}</ul><p>HMIS role to provision: <strong>{}</strong></p>", rows,
                           result.hmis_role or "—")

    def get_readonly_fields(self, request, obj=None):
        self._viewer = request.user  # the grant button below shows only to whom may grant
        return super().get_readonly_fields(request, obj)

    @admin.display(description="grant access")
    def grant(self, obj):
        if obj.status != AccessRequest.Status.READY:
            return "Only a request that is ready for provisioning can be granted."
        refusal = access.grant_refusal(self._viewer, obj)
        if refusal:
            return refusal
        return format_html('<a class="button" href="{}">Grant HMIS access</a>',
                           reverse("admin:hmis_access_accessrequest_grant", args=[obj.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        awaiting = obj is not None and obj.status == AccessRequest.Status.AWAITING_APPROVAL
        extra_context = {**(extra_context or {}), "awaiting_approval": awaiting,
                         "approval_refusal": access.approval_refusal(request.user, obj) if awaiting else ""}
        return super().change_view(request, object_id, form_url, extra_context)

    def approve_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "approve", ApproveForm, "Approve the access request",
            lambda r: access_request_approve(actor=request.user, access_request_id=r.pk),
            "Approved: the user was told which trainings and forms come next, and the requester was told.")

    def decline_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "decline", DeclineForm, "Decline the access request",
            lambda r, reason: access_request_decline(actor=request.user, access_request_id=r.pk, reason=reason),
            "Declined; the agency was told why.")

    def get_urls(self):
        return [
            path("<int:pk>/grant/", self.admin_site.admin_view(self.grant_view), name="hmis_access_accessrequest_grant"),
            *super().get_urls(),
        ]

    def grant_view(self, request, pk):
        access_request = get_object_or_404(AccessRequest.objects.select_related("user", "organization"), pk=pk)
        if not access.can_grant(request.user, access_request):
            raise PermissionDenied(access.grant_refusal(request.user, access_request))
        checklist = build_checklist(access_request)
        change_url = reverse("admin:hmis_access_accessrequest_change", args=[pk])
        if request.method == "POST":
            form = GrantForm(request.POST)
            if form.is_valid():
                try:
                    access_request_grant(actor=request.user, access_request_id=pk, **form.cleaned_data)
                except REFUSALS as exc:
                    self.message_user(request, " ".join(refusal_messages(exc)), messages.ERROR)
                else:
                    self.message_user(request, f"HMIS access granted to {access_request.user}; the user and the "
                                               "agency have been told.", messages.SUCCESS)
                    return redirect(change_url)
        else:
            # The CoC's username rule proposes; staff may type another.
            form = GrantForm(initial={"hmis_username": proposed_hmis_username(access_request),
                                      "hmis_role": checklist.hmis_role})
        context = {
            **self.admin_site.each_context(request),
            "title": f"Grant HMIS access to {access_request.user}",
            "opts": self.model._meta,
            "original": access_request,
            "access_request": access_request,
            "checklist": checklist,
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "hmis_access/admin/grant_access.html", context)
