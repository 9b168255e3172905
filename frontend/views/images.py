"""Images across the fleet, with the hosts that have each; one host's image with its layers;
pull, remove, prune and read layers."""

from __future__ import annotations

from django.db.models import Max, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from hosts.models import Host
from images import services
from images.models import Image
from images.references import describe_images
from operations.models import Operation

from ..forms import PruneForm, PullForm
from .common import is_htmx, operator, paginate, refused, scoped_form, started, viewer, visible

IMAGES_PER_PAGE = 50
RECENT_OPERATIONS = 10


def _fleet_images(request: HttpRequest) -> dict[str, object]:
    """One entry per image id (newest first), grouped as the API groups them."""
    rows = visible(request, Image.objects.all())
    search = request.GET.get("q", "").strip()
    if search:
        rows = rows.filter(Q(tags__icontains=search) | Q(image_id__icontains=search))
    images = (
        rows.values("image_id")
        .annotate(newest=Max("created"))
        .order_by("-newest", "image_id")
        .values_list("image_id", "newest")
    )
    page = paginate(request, images, IMAGES_PER_PAGE)
    shown = list(page.object_list)
    entries = services.group_fleet_images(
        shown,
        services.fleet_image_rows(
            visible(request, Image.objects.filter(image_id__in=[image_id for image_id, _ in shown]))
        ),
    )
    describe_images(entries)
    return {"page": page, "images": entries, "q": search}


@viewer
def image_list(request: HttpRequest) -> HttpResponse:
    context = _fleet_images(request)
    if is_htmx(request):
        return render(request, "frontend/partials/images.html", context)
    hosts = visible(request, Host.objects.order_by("name"))
    pull_form, prune_form = scoped_form(request, PullForm()), scoped_form(request, PruneForm())
    # The forms offer every host by name: only that is read of each (and of a fleet's
    # facts, keys and labels nothing).
    for field in (pull_form.fields["hosts"], prune_form.fields["host"]):
        field.queryset = field.queryset.only("pk", "name")  # type: ignore[attr-defined]
    context.update(pull_form=pull_form, prune_form=prune_form, all_hosts=hosts)
    return render(request, "frontend/images.html", context)


@require_POST
@operator
def image_pull(request: HttpRequest) -> HttpResponse:
    form = scoped_form(request, PullForm(request.POST))
    if not form.is_valid():
        problems = "; ".join(" ".join(map(str, errors)) for errors in form.errors.values())
        return refused(request, problems, "frontend:images")
    try:
        pull = services.prepare_pull(form.cleaned_data["ref"], form.cleaned_data["credential"])
        hosts = list(form.cleaned_data["hosts"])
        operation = services.request_bulk_pull(hosts, pull, actor=request.user)
    except services.InvalidRequest as exc:
        return refused(request, exc.message, "frontend:images")
    return started(
        request, operation, f"Pulling {pull.ref} onto {len(hosts)} host(s).", "frontend:images"
    )


@require_POST
@operator
def image_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove one image from one host (``pk`` is that host's image row)."""
    image = get_object_or_404(visible(request, Image.objects.select_related("host")), pk=pk)
    operation = services.request_remove(image, force=True, actor=request.user)
    return started(
        request, operation, f"Removing {image} from {image.host.name}.", "frontend:images"
    )


def _image_context(image: Image) -> dict[str, object]:
    describe_images([image])
    operations = (
        Operation.objects.filter(target_type="image", target_id=str(image.pk))
        .select_related("host")
        .order_by("-created_at", "-id")[:RECENT_OPERATIONS]
    )
    return {"image": image, "stack": services.layer_stack(image), "operations": operations}


@viewer
def image_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One host's image (``pk`` is that host's image row) with its layer stack."""
    image = visible(request, Image.objects.select_related("host")).filter(pk=pk).first()
    if is_htmx(request):
        # Polled: an image removed meanwhile says so instead of vanishing.
        context = _image_context(image) if image else {"image": None}
        return render(request, "frontend/partials/image.html", context)
    if image is None:
        raise Http404("No such image (it may have been removed from its host)")
    return render(request, "frontend/image.html", _image_context(image))


@require_POST
@operator
def image_layers(request: HttpRequest, pk: int) -> HttpResponse:
    image = get_object_or_404(visible(request, Image.objects.select_related("host")), pk=pk)
    operation = services.request_layers(image, actor=request.user)
    return started(
        request,
        operation,
        f"Reading the layers of {image} on {image.host.name}.",
        "frontend:image",
        pk=pk,
    )
