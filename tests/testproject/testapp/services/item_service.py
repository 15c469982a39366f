from django_socio_grpc.decorators import grpc_action
from django_socio_grpc.generics import GenericService
from testapp.models import Item


class ItemService(GenericService):
    """A GenericService: its controller is `ItemController`."""

    queryset = Item.objects.all()

    @grpc_action(
        request=[{"name": "id", "type": "int64"}],
        response=[{"name": "id", "type": "int64"}, {"name": "name", "type": "string"}],
    )
    def Retrieve(self, request, context):
        from testapp.grpc import testapp_pb2

        item = self.get_object()
        return testapp_pb2.ItemRetrieveResponse(id=item.id, name=item.name)
