from django.contrib import admin

from .models import Container


@admin.register(Container)
class ContainerAdmin(admin.ModelAdmin):
    list_display = ["name", "host", "image", "state", "health"]
    list_filter = ["state", "health"]
    search_fields = ["name", "image"]
    list_select_related = ["host"]
