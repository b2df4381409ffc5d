"""A vendor's CustomCallbackHandler in Python grpcio, for .ci/custom-callback-blackbox.

Usage: HANDLER_TOKEN=<token> python custom_callback_handler.py PORT CALL_LOG, with the stubs generated from
proto/cyberapp/tenants/v1/{tenants,custom_callback}.proto on PYTHONPATH. Appends one JSON line per call to
CALL_LOG (callback id and the authorization it saw), refuses a call without `authorization: Bearer <token>`
(UNAUTHENTICATED), refuses `*.refuse.*` callbacks (INVALID_ARGUMENT "bad input"), and answers every other one
with `echo_ok`, HTTP 202 and a payload echoing what it received; the request's paging is passed through.
"""

import json
import os
import sys
from concurrent import futures

import grpc

from cyberapp.tenants.v1 import custom_callback_pb2 as pb
from cyberapp.tenants.v1 import custom_callback_pb2_grpc as pb_grpc
from cyberapp.tenants.v1 import tenants_pb2

ECHO_OK = "cti.a.p.acgw.response.v1.0~vendor.app.echo_ok.v1.0"


class Handler(pb_grpc.CustomCallbackHandlerServicer):
    def __init__(self, token, call_log):
        self.expected_authorization = f"Bearer {token}"
        self.call_log = call_log

    def HandleCustomCallback(self, request, context):
        authorization = dict(context.invocation_metadata()).get("authorization")
        with open(self.call_log, "a") as log:
            print(json.dumps({"callback_id": request.callback_id, "authorization": authorization}), file=log)
        if authorization != self.expected_authorization:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        if ".refuse." in request.callback_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad input")
        echo = {
            "vendor_tenant_id": request.tenant.vendor_tenant_id,
            "kind": tenants_pb2.TenantKind.Name(request.tenant.kind),
            "acronis_tenant_id": request.acronis_tenant_id,
            "route": request.route,
            "payload": json.loads(request.payload_json),
        }
        return pb.HandleCustomCallbackResponse(
            response_type=ECHO_OK,
            http_status=202,
            payload_json=json.dumps(echo),
            paging_json=request.paging_json if request.HasField("paging_json") else None,
        )


def main():
    port, call_log = sys.argv[1], sys.argv[2]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_CustomCallbackHandlerServicer_to_server(Handler(os.environ["HANDLER_TOKEN"], call_log), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
