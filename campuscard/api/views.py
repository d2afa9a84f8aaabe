"""API views: thin, each calls selectors of the app that owns the data."""

from __future__ import annotations

import datetime as dt

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as accounts_selectors
from accounts.errors import BusinessError, NotAllowed
from accounts.timeutil import business_day
from merchants import selectors as merchant_selectors
from settlement import revenue
from settlement import selectors as settlement_selectors

from . import serializers as s
from . import services
from .authentication import ApiTokenAuthentication
from .models import Scope
from .permissions import HasScope, merchant_visible


class ScopedView(APIView):
    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [HasScope]
    required_scope = ""

    def merchant(self, code: str):
        merchant = merchant_selectors.merchant_get(code=code)
        if not merchant_visible(self.request.user, merchant):
            raise Http404  # another merchant's code looks the same as one that does not exist
        return merchant


class CardStatusView(ScopedView):
    required_scope = Scope.CARDS_READ

    @extend_schema(summary="A card's status by its number", responses=s.CardSerializer, tags=["cards"])
    def get(self, request, card_no: int):
        card = accounts_selectors.card_get(card_no=card_no)
        if card is None:
            raise Http404
        return Response(s.CardSerializer(card).data)


class HolderCardsView(ScopedView):
    required_scope = Scope.CARDS_READ

    @extend_schema(summary="A cardholder's cards, by staff/student number", responses=s.HolderCardsSerializer,
                   tags=["cards"])
    def get(self, request, number: str):
        holder = accounts_selectors.holder_get_by_number(number=number)
        if holder is None:
            raise Http404
        cards = holder.cards.select_related("holder").order_by("-issued_on", "-id")
        return Response(s.HolderCardsSerializer(
            {"number": holder.number, "name": holder.name, "status": holder.status, "cards": cards}).data)


class MerchantRevenueView(ScopedView):
    required_scope = Scope.REVENUE_READ

    @extend_schema(summary="A merchant's revenue by business day or month (posted purchases, its share)",
                   parameters=[s.RevenueQuerySerializer], responses=s.RevenueSerializer, tags=["merchants"],
                   description="A token bound to one merchant gets 404 for every other merchant.")
    def get(self, request, code: str):
        merchant = self.merchant(code)
        q = s.RevenueQuerySerializer(data=request.query_params)
        q.is_valid(raise_exception=True)
        end = q.validated_data.get("end") or business_day()
        start = q.validated_data.get("start") or end - dt.timedelta(days=29)
        if start > end or (end - start).days > 366:
            return Response({"detail": "start must be before end, at most 366 days apart"}, status=400)
        by = q.validated_data["by"]
        if by == "month":
            rows = [{"period": r["month"], "count": r["count"], "amount_fen": r["amount"]} for r in
                    revenue.merchant_revenue_by_month(merchant=merchant, start=start, end=end)]
        else:
            rows = [{"period": r["day"], "count": r["count"], "amount_fen": r["amount"]} for r in
                    revenue.merchant_revenue_by_day(merchant=merchant, start=start, end=end)]
        return Response(s.RevenueSerializer({
            "merchant": merchant.code, "start": start, "end": end, "by": by,
            "total_fen": sum(r["amount_fen"] for r in rows), "rows": rows}).data)




class MerchantSettlementsView(ScopedView):
    required_scope = Scope.SETTLEMENTS_READ

    @extend_schema(summary="A merchant's settlement statements, newest period first (amounts in fen)",
                   parameters=[s.SettlementsQuerySerializer], responses=s.SettlementsSerializer, tags=["merchants"],
                   description="A token bound to one merchant gets 404 for every other merchant.")
    def get(self, request, code: str):
        merchant = self.merchant(code)
        q = s.SettlementsQuerySerializer(data=request.query_params)
        q.is_valid(raise_exception=True)
        qs = settlement_selectors.statements_for_merchant(merchant=merchant)
        if q.validated_data.get("status"):
            qs = qs.filter(status=q.validated_data["status"])
        rows = list(qs[: q.validated_data["limit"]])
        return Response(s.SettlementsSerializer({"merchant": merchant.code, "statements": rows}).data)


class CardFunctionsView(ScopedView):
    required_scope = Scope.CARDS_FUNCTIONS

    @extend_schema(summary="Switch one of a card's subsystem functions on or off (R-SUB-1)",
                   request=s.FunctionSwitchSerializer, responses=s.FunctionSwitchResultSerializer, tags=["cards"],
                   description="Only the named function changes; others' functions stay. Audited under the "
                               "client's name. A consumption card takes no function (R-CARD-5).")
    def post(self, request, card_no: int):
        body = s.FunctionSwitchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            card, changed = services.card_function_switch(client=request.user, card_no=card_no, **body.validated_data)
        except NotAllowed as exc:
            raise PermissionDenied(str(exc.messages[0])) from exc
        except BusinessError as exc:
            return Response({"detail": "; ".join(exc.messages)}, status=400)
        if card is None:
            raise Http404
        return Response(s.FunctionSwitchResultSerializer(
            {"card_no": card.card_no, "functions": card.functions, "changed": changed}).data)


class HolderIntakeView(ScopedView):
    """The student information system or the personnel office sends its freshmen and staff: every row
    is checked (ID numbers, graduation dates, units) as at the desk; with apply, the rows without
    errors are written (accounts.intake). The intake shows at the desk under its id."""

    required_scope = Scope.HOLDERS_SYNC

    @extend_schema(summary="Send freshmen and staff from the registry (check, or check and write)",
                   request=s.IntakeRequestSerializer, responses=s.IntakeResultSerializer, tags=["holders"])
    def post(self, request):
        body = s.IntakeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = services.holders_intake(client=request.user, rows=body.validated_data["rows"],
                                             apply=body.validated_data["apply"])
        except NotAllowed as exc:
            raise PermissionDenied(str(exc.messages[0])) from exc
        except BusinessError as exc:
            return Response({"detail": "; ".join(exc.messages)}, status=400)
        return Response(s.IntakeResultSerializer(result).data)
