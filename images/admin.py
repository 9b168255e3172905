from django.contrib import admin

from .models import Image


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "host", "size", "created"]
    list_select_related = ["host"]
