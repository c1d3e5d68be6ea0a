"""The local runtime's moto process: its dispatcher's memory of hosts, and a start failure that says why."""
import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from local import moto_server
from local.moto_process import Dispatcher

HOSTS = ["s3.us-east-1.amazonaws.com", "photos.s3.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com",
         "dynamodb.us-east-1.amazonaws.com", "ecs.us-east-1.amazonaws.com", "127.0.0.1:5000", None]


def test_dispatcher_answers_as_moto_and_works_each_host_out_once(monkeypatch):
    stock = DomainDispatcherApplication(create_backend_app)
    dispatcher = Dispatcher(create_backend_app)
    first = [dispatcher.get_backend_for_host(host) for host in HOSTS]
    assert first == [stock.get_backend_for_host(host) for host in HOSTS]
    assert first[:5] == ["s3", "s3", "sqs", "dynamodb", "ecs"]

    def worked_out_again(self, host):
        raise AssertionError(f"{host} worked out again")
    monkeypatch.setattr(DomainDispatcherApplication, "get_backend_for_host", worked_out_again)
    assert [dispatcher.get_backend_for_host(host) for host in HOSTS] == first


def test_a_moto_process_that_cannot_start_says_why(monkeypatch):
    monkeypatch.setattr(moto_server, "PROCESS_MODULE", "local.no_such_module")
    with pytest.raises(RuntimeError, match=r"did not start \(exit code 1\).*No module named local.no_such_module"):
        moto_server.MotoServer().start()
