"""Errors as RFC 9457 problem documents with a stable code and Vietnamese + English text.

Services raise AppError(code); the handler map turns it, and every framework error
(validation, 404, 405...), into a problem document. Unknown exceptions become a 500 that
reveals nothing but the request id.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

from backend.db_faults import RETRY_AFTER_SECONDS, is_database_fault
from backend.log import current_request_id
from schemas.problem import FieldError, Messages, Problem

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class Text:
    vi: str
    en: str

    def pick(self, language: str) -> str:
        return self.en if language == "en" else self.vi


CATALOG: dict[str, tuple[int, Text]] = {
    "malformed_body": (
        400,
        Text("Nội dung yêu cầu không đọc được (JSON sai cú pháp)", "The request body is not valid JSON"),
    ),
    "validation_failed": (422, Text("Dữ liệu gửi lên không hợp lệ", "The request data is invalid")),
    "invalid_parameter": (400, Text("Tham số không hợp lệ", "A request parameter is invalid")),
    "invalid_cursor": (400, Text("Con trỏ phân trang không hợp lệ", "The pagination cursor is invalid")),
    "unauthenticated": (401, Text("Cần đăng nhập để thực hiện thao tác này", "Authentication is required")),
    "invalid_token": (
        401,
        Text("Phiên đăng nhập không hợp lệ hoặc đã hết hạn", "The token is invalid or has expired"),
    ),
    "invalid_credentials": (
        401,
        Text("Tên đăng nhập hoặc mật khẩu không đúng", "Wrong username or password"),
    ),
    "invalid_refresh_token": (
        401,
        Text("Phiên làm việc đã hết hạn, vui lòng đăng nhập lại", "The session has ended; please log in again"),
    ),
    "invalid_api_key": (
        401,
        Text("Khóa API không hợp lệ hoặc đã bị thu hồi", "The API key is invalid or revoked"),
    ),
    "install_secret_required": (
        401,
        Text(
            "Thiết bị này đã đăng ký; cần mã bí mật của thiết bị",
            "This install is already registered; its install secret is required",
        ),
    ),
    "install_blocked": (403, Text("Thiết bị này đã bị chặn", "This install has been blocked")),
    "forbidden_role": (
        403,
        Text("Vai trò của bạn không được phép thực hiện thao tác này", "Your role does not allow this"),
    ),
    "out_of_scope": (
        403,
        Text("Nội dung này nằm ngoài phạm vi quản lý của bạn", "This is outside your scope"),
    ),
    "not_found": (404, Text("Không tìm thấy", "Not found")),
    "commune_not_found": (404, Text("Không tìm thấy xã/phường/đặc khu", "Commune not found")),
    "province_not_found": (404, Text("Không tìm thấy tỉnh/thành phố", "Province not found")),
    "procedure_not_found": (404, Text("Không tìm thấy thủ tục hành chính", "Procedure not found")),
    "user_not_found": (404, Text("Không tìm thấy người dùng", "User not found")),
    "api_key_not_found": (404, Text("Không tìm thấy khóa API", "API key not found")),
    "commune_service_not_found": (
        404,
        Text("Không tìm thấy dịch vụ công của xã/phường", "Commune service not found"),
    ),
    "official_not_found": (404, Text("Không tìm thấy cán bộ", "Official not found")),
    "device_not_found": (404, Text("Không tìm thấy thiết bị nhận thông báo", "Push device not found")),
    "threshold_rule_not_found": (404, Text("Không tìm thấy quy tắc ngưỡng cảnh báo", "Threshold rule not found")),
    "method_not_allowed": (405, Text("Phương thức không được hỗ trợ", "Method not allowed")),
    "device_target_in_use": (
        409,
        Text(
            "Thiết bị này đang nhận thông báo cho một tài khoản khác; tài khoản đó cần gỡ thiết bị trước",
            "This device receives pushes for another account; that account must remove it first",
        ),
    ),
    "username_taken": (409, Text("Tên đăng nhập đã được sử dụng", "The username is already taken")),
    "last_system_admin": (
        409,
        Text(
            "Không thể vô hiệu hóa quản trị hệ thống cuối cùng đang hoạt động",
            "The last active system admin cannot be deactivated",
        ),
    ),
    "rating_not_found": (404, Text("Không tìm thấy đánh giá", "Rating not found")),
    "rating_not_held": (
        409,
        Text(
            "Đánh giá này không chờ xem xét (chưa từng bị tạm giữ hoặc đã được xem xét)",
            "This rating is not waiting for review (never held, or already reviewed)",
        ),
    ),
    "rating_exists": (
        409,
        Text("Hồ sơ này đã được đánh giá", "This dossier has already been rated"),
    ),
    "commune_service_exists": (
        409,
        Text("Xã/phường đã có dịch vụ cho thủ tục này", "The commune already offers this procedure"),
    ),
    "assignment_overlap": (
        409,
        Text(
            "Thời gian phân công trùng với một phân công khác của dịch vụ này",
            "The assignment overlaps another assignment of this service",
        ),
    ),
    "threshold_rule_exists": (
        409,
        Text(
            "Phạm vi này đã có quy tắc ngưỡng cho chỉ số này; hãy sửa quy tắc đó",
            "This scope already has a threshold rule for the indicator; change that one",
        ),
    ),
    "request_too_large": (413, Text("Nội dung yêu cầu quá lớn", "The request is too large")),
    "unsupported_media_type": (415, Text("Định dạng nội dung không được hỗ trợ", "Unsupported media type")),
    "invalid_scope": (
        422,
        Text("Phạm vi không hợp lệ cho vai trò này", "The scope is not valid for this role"),
    ),
    "idempotency_key_required": (
        400,
        Text(
            "Thiếu tiêu đề Idempotency-Key (1–200 ký tự chữ, số, '_', '-', ':', '.')",
            "The Idempotency-Key header is required (1-200 letters, digits, '_', '-', ':', '.')",
        ),
    ),
    "idempotency_key_reused": (
        422,
        Text(
            "Idempotency-Key này đã được dùng cho một yêu cầu có nội dung khác",
            "This Idempotency-Key was already used with a different request body",
        ),
    ),
    "unknown_service": (
        422,
        Text("Không tìm thấy dịch vụ được đánh giá", "The service being rated does not exist"),
    ),
    "service_reference_required": (
        422,
        Text(
            "Cần chỉ rõ dịch vụ: mã dịch vụ, hoặc mã xã và mã thủ tục, hoặc mã hồ sơ",
            "Name the service: commune_service_id, or commune_code and procedure_code, or dossier_code",
        ),
    ),
    "unknown_dossier": (
        422,
        Text(
            "Chưa có thông tin về hồ sơ này; vui lòng chọn dịch vụ đã sử dụng",
            "This dossier is not known yet; please name the service you used",
        ),
    ),
    "dossier_service_mismatch": (
        422,
        Text(
            "Mã hồ sơ không thuộc dịch vụ đã chọn",
            "The dossier belongs to another service than the one named",
        ),
    ),
    "service_time_required": (
        422,
        Text("Cần cho biết thời điểm sử dụng dịch vụ", "The time the service was used (served_at) is required"),
    ),
    "served_at_in_future": (
        422,
        Text("Thời điểm sử dụng dịch vụ không thể ở tương lai", "The service time cannot be in the future"),
    ),
    "served_at_too_old": (
        422,
        Text("Đã quá thời hạn đánh giá dịch vụ này", "The service was used too long ago to be rated"),
    ),
    "invalid_assignment": (
        422,
        Text("Phân công không hợp lệ", "The assignment is not valid"),
    ),
    "device_target_required": (
        422,
        Text(
            "Cần đúng một trong hai trường fid hoặc registration_token",
            "Send exactly one of fid and registration_token",
        ),
    ),
    "invalid_dossier_event": (
        422,
        Text("Sự kiện hồ sơ không hợp lệ", "The dossier event is not valid"),
    ),
    "handling_official_unknown": (
        422,
        Text(
            "Cán bộ xử lý không thuộc xã/phường của hồ sơ",
            "handling_official_id is not an official of the dossier's commune",
        ),
    ),
    "invalid_scorecard_period": (
        400,
        Text("Kỳ đánh giá không hợp lệ (dạng YYYY-MM hoặc YYYY-Qn)", "The period is invalid (YYYY-MM or YYYY-Qn)"),
    ),
    "period_not_started": (
        422,
        Text("Kỳ đánh giá chưa bắt đầu", "The period has not started yet"),
    ),
    "scorecard_not_found": (404, Text("Không tìm thấy phiếu đánh giá", "Scorecard not found")),
    "explanation_not_allowed": (
        403,
        Text(
            "Chỉ cán bộ được đánh giá mới giải trình cho phiếu đánh giá tháng của mình",
            "Only the official concerned may explain their own monthly scorecard",
        ),
    ),
    "invalid_threshold_rule": (
        422,
        Text("Quy tắc ngưỡng cảnh báo không hợp lệ", "The threshold rule is not valid"),
    ),
    "rating_limit_reached": (
        429,
        Text(
            "Thiết bị này đã gửi đủ số đánh giá cho phép trong ngày, vui lòng thử lại vào ngày mai",
            "This install has sent its ratings for today; try again tomorrow",
        ),
    ),
    "feedback_limit_reached": (
        429,
        Text(
            "Thiết bị này đã gửi đủ số góp ý hoặc dung lượng ảnh cho phép trong ngày, vui lòng thử lại vào ngày mai",
            "This install has sent its feedback or photo allowance for today; try again tomorrow",
        ),
    ),
    "too_many_login_attempts": (
        429,
        Text("Đăng nhập sai quá nhiều lần, vui lòng thử lại sau", "Too many failed logins; try again later"),
    ),
    "invalid_period": (400, Text("Khoảng thời gian không hợp lệ", "The period is invalid")),
    "invalid_breakdown": (
        400,
        Text("Cách phân tích không hợp lệ cho phạm vi này", "This breakdown does not fit the scope"),
    ),
    "alert_not_found": (404, Text("Không tìm thấy cảnh báo", "Alert not found")),
    "invalid_alert_transition": (
        409,
        Text("Cảnh báo đang ở trạng thái không cho phép thao tác này", "The alert's state does not allow this"),
    ),
    "invalid_silence": (
        422,
        Text(
            "Thời hạn tạm tắt phải ở tương lai và không quá 30 ngày",
            "A silence must end in the future and within 30 days",
        ),
    ),
    # Front feedback workflow (backend/services/feedback_workflow.py).
    "feedback_not_found": (404, Text("Không tìm thấy góp ý, phản ánh", "Feedback not found")),
    "forward_not_found": (404, Text("Không tìm thấy nội dung được chuyển xử lý", "Forwarded feedback not found")),
    "invalid_feedback_transition": (
        409,
        Text("Góp ý đang ở trạng thái không cho phép thao tác này", "The feedback's status does not allow this"),
    ),
    "feedback_leased": (
        409,
        Text(
            "Một cán bộ khác đang xử lý góp ý này; vui lòng chờ hoặc nhờ cán bộ phụ trách giải phóng",
            "Another staff member is working on this feedback; wait, or ask a supervisor to take it over",
        ),
    ),
    "forward_not_answered": (
        409,
        Text("Cơ quan có thẩm quyền chưa trả lời", "The authority has not answered yet"),
    ),
    "forward_closed": (
        409,
        Text("Nội dung chuyển xử lý này không còn chờ trả lời", "This forwarded item no longer awaits an answer"),
    ),
    "no_accountable_authority": (
        409,
        Text(
            "Không xác định được cơ quan có thẩm quyền (chưa có cán bộ phụ trách hoặc Chủ tịch UBND xã)",
            "No accountable authority: neither an official holding the service nor a commune chair has an account",
        ),
    ),
    "version_mismatch": (
        412,
        Text(
            "Góp ý đã được người khác thay đổi; vui lòng tải lại rồi thử lại",
            "The feedback was changed by someone else; reload it and try again",
        ),
    ),
    "if_match_required": (
        428,
        Text(
            'Thiếu tiêu đề If-Match với phiên bản hiện tại (ví dụ If-Match: "3")',
            'The If-Match header with the current version is required (e.g. If-Match: "3")',
        ),
    ),
    "invalid_merge": (
        422,
        Text(
            "Chỉ gộp được vào một góp ý khác của cùng xã/phường, chưa bị gộp hay từ chối",
            "A duplicate merges only into another item of the same commune that is not merged or rejected",
        ),
    ),
    "invalid_assignee": (
        422,
        Text(
            "Người được giao phải là cán bộ Mặt trận phụ trách xã/phường của góp ý",
            "The assignee must be Front staff covering the feedback's commune",
        ),
    ),
    "feedback_link_mismatch": (
        422,
        Text(
            "Dịch vụ hoặc cán bộ được gắn phải thuộc xã/phường của góp ý",
            "The linked service or official must belong to the feedback's commune",
        ),
    ),
    "invalid_extension": (
        422,
        Text(
            "Chỉ được gia hạn một lần, sau hạn hiện tại và trong giới hạn cho phép",
            "An extension is allowed once, after the current due date and within the allowed limit",
        ),
    ),
    # Citizens' feedback, attachments and reveal (backend/services/feedback_citizen.py).
    "attachment_not_found": (404, Text("Không tìm thấy tệp đính kèm", "Attachment not found")),
    "unknown_commune": (422, Text("Không tìm thấy xã/phường/đặc khu đã chọn", "The commune does not exist")),
    "unknown_procedure": (
        422,
        Text("Không tìm thấy thủ tục hành chính đã chọn", "The procedure does not exist in the catalogue"),
    ),
    "feedback_service_mismatch": (
        422,
        Text(
            "Dịch vụ đã chọn không tồn tại hoặc không thuộc xã/phường này",
            "The commune service does not exist or belongs to another commune",
        ),
    ),
    "feedback_official_mismatch": (
        422,
        Text(
            "Cán bộ đã chọn không tồn tại hoặc không thuộc xã/phường này",
            "The official does not exist or belongs to another commune",
        ),
    ),
    "invalid_contact": (
        422,
        Text(
            "Cần ít nhất một thông tin liên hệ, hoặc chọn gửi ẩn danh (khi đó không gửi thông tin liên hệ)",
            "Give at least one contact detail, or send anonymously (then with no contact details)",
        ),
    ),
    "too_many_attachments": (
        422,
        Text("Chỉ được đính kèm tối đa 5 ảnh", "At most 5 photos may be attached"),
    ),
    "attachment_too_large": (
        413,
        Text("Mỗi ảnh đính kèm không được vượt quá 5 MB", "Each attached photo must be at most 5 MB"),
    ),
    "attachment_too_many_pixels": (
        413,
        Text(
            "Ảnh có quá nhiều điểm ảnh (tối đa 50 triệu); hãy chụp hoặc lưu ở độ phân giải thấp hơn",
            "The photo has too many pixels (at most 50 million); take or save it at a lower resolution",
        ),
    ),
    "attachment_type_not_allowed": (
        415,
        Text(
            "Chỉ nhận ảnh JPEG, PNG hoặc HEIC (kiểm tra theo nội dung tệp)",
            "Only JPEG, PNG or HEIC photos are accepted (judged by the file's content)",
        ),
    ),
    "feedback_not_answered": (
        409,
        Text("Góp ý này chưa được trả lời", "This feedback has not been answered yet"),
    ),
    "feedback_already_rated": (
        409,
        Text("Câu trả lời này đã được đánh giá", "This answer has already been rated"),
    ),
    "feedback_not_disputable": (
        409,
        Text(
            "Chỉ có thể đề nghị xem xét lại góp ý đã được trả lời, đã kết thúc hoặc bị từ chối",
            "Only answered, closed or rejected feedback can be disputed",
        ),
    ),
    # Reporter protection (backend/reporter_protection.py, services/front_grants.py).
    "protected_recategorise_forbidden": (
        403,
        Text(
            "Chỉ giám sát viên Mặt trận trong phạm vi mới được đổi loại của một tố cáo sai phạm (kèm lý do)",
            "Only a Front supervisor in scope may recategorise a report of wrongdoing (with a reason)",
        ),
    ),
    "front_grant_forbidden": (
        403,
        Text(
            "Vai trò Mặt trận chỉ do giám sát viên Mặt trận trong phạm vi cấp; quản trị hệ thống chỉ cấp "
            "giám sát viên đầu tiên của một tỉnh",
            "Front roles are granted by Front supervisors within their scope; a system admin may grant "
            "only a province's first Front supervisor",
        ),
    ),
    "forward_reaches_concerned": (
        409,
        Text(
            "Không thể chuyển: tố cáo sẽ đến tài khoản của chính cán bộ bị tố cáo",
            "Cannot forward: this report of wrongdoing would reach an account of the official it concerns",
        ),
    ),
    "forward_not_reviewed": (
        409,
        Text(
            "Tố cáo chỉ được chuyển sau khi Mặt trận duyệt bản đã che thông tin; nội dung sửa sau khi duyệt "
            "cần được duyệt lại",
            "A report of wrongdoing is forwarded only after the Front has reviewed its masked copy; a copy "
            "changed after the review must be reviewed again",
        ),
    ),
    "review_copy_identifies": (
        422,
        Text(
            "Bản đã sửa còn thông tin có thể nhận diện người gửi (số điện thoại, số giấy tờ, e-mail hoặc tên)",
            "The edited copy still holds what could identify the reporter (a phone or ID number, an e-mail "
            "address or a name)",
        ),
    ),
    "account_already_linked": (
        409,
        Text("Tài khoản này đã gắn với một cán bộ khác", "This account is already linked to another official"),
    ),
    "invalid_feedback_recipient": (
        422,
        Text(
            "Người nhận phải là tài khoản đang hoạt động thuộc UBND tỉnh (vai trò quản trị tỉnh)",
            "The recipient must be an active account of the province's People's Committee (province admin role)",
        ),
    ),
    "reveal_rate_exceeded": (
        429,
        Text(
            "Đã vượt số lượt xem danh tính cho phép trong một giờ; việc này đã được báo cho cấp giám sát",
            "Too many identity reveals in an hour; this has been reported to your oversight",
        ),
    ),
    "reveal_forbidden": (
        403,
        Text(
            "Chỉ cán bộ Mặt trận có quyền xem danh tính người phản ánh mới được thực hiện thao tác này",
            "Only Front staff holding the reveal permission over this commune may see a reporter's identity",
        ),
    ),
    "too_many_requests": (
        429,
        Text("Quá nhiều yêu cầu, vui lòng thử lại sau", "Too many requests; try again later"),
    ),
    "internal_error": (
        500,
        Text("Lỗi hệ thống, vui lòng thử lại sau", "Internal error; please try again later"),
    ),
    "service_unavailable": (
        503,
        Text("Dịch vụ tạm thời không sẵn sàng", "The service is temporarily unavailable"),
    ),
    "database_unavailable": (
        503,
        Text(
            "Cơ sở dữ liệu tạm thời không phản hồi; vui lòng thử lại sau vài giây (gửi lại cùng Idempotency-Key)",
            "The database is temporarily unavailable; retry in a few seconds (with the same Idempotency-Key)",
        ),
    ),
}

_CODE_FOR_STATUS = {
    400: "invalid_parameter",
    401: "unauthenticated",
    403: "forbidden_role",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "service_unavailable",
}


class AppError(Exception):
    """A failure the caller can act on; `code` must be in CATALOG."""

    def __init__(
        self,
        code: str,
        detail: Text | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        if code not in CATALOG:
            raise ValueError(f"unknown problem code {code!r}")
        super().__init__(code)
        self.code = code
        self.status = CATALOG[code][0]
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions or {}


def preferred_language(accept_language: str | None) -> str:
    """'en' or 'vi' from an Accept-Language header: the highest q wins, then the earliest; else 'vi'."""
    candidates = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        language = tag.lower().split("-")[0]
        if language in ("vi", "en") and q > 0:
            candidates.append((-q, index, language))
    return min(candidates)[2] if candidates else "vi"


def build_problem(
    code: str,
    language: str,
    *,
    status: int | None = None,
    detail: Text | None = None,
    errors: list[FieldError] | None = None,
    instance: str | None = None,
) -> Problem:
    default_status, title = CATALOG[code]
    return Problem(
        type=f"urn:commune-pulse:problem:{code}",
        title=title.pick(language),
        status=status or default_status,
        code=code,
        messages=Messages(vi=(detail or title).vi, en=(detail or title).en),
        detail=detail.pick(language) if detail else None,
        instance=instance,
        request_id=current_request_id(),
        errors=errors,
    )


def problem_of(error: AppError, language: str) -> Problem:
    """The problem document of one item of a batch."""
    problem = build_problem(error.code, language, detail=error.detail, errors=error.errors)
    existing = error.extensions.get("existing_id")
    return msgspec.structs.replace(problem, existing_id=existing) if existing else problem


def problem_response(
    request: Request[Any, Any, Any],
    code: str,
    *,
    status: int | None = None,
    detail: Text | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response[bytes]:
    language = preferred_language(request.headers.get("accept-language"))
    problem = build_problem(code, language, status=status, detail=detail, errors=errors, instance=request.url.path)
    body = msgspec.to_builtins(problem)
    if extensions:
        body.update(extensions)
    return Response(
        content=msgspec.json.encode(body),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"content-language": language, **(headers or {})},
    )


def handle_app_error(request: Request[Any, Any, Any], exc: AppError) -> Response[bytes]:
    return problem_response(
        request,
        exc.code,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        extensions=exc.extensions,
    )


_MSGSPEC_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def _field_errors(exc: ValidationException) -> list[FieldError]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", ""))
        field = str(item.get("key") or "")
        match = _MSGSPEC_PATH.search(message)
        if match:
            field = field or match["path"].lstrip(".") or "body"
            message = message[: match.start()]
        if field and message == repr(field):
            # Litestar reports an absent optional body as KeyError('data') when another
            # parameter fails: not an error of the request.
            continue
        source = getattr(item.get("source"), "value", item.get("source"))
        if source == "header" and field:
            field = field.replace("_", "-")  # Litestar names the argument, not the header
        if source and source != "body" and field:
            field = f"{source}.{field}"
        errors.append(FieldError(field=field or "body", message=message))
    return errors


# Litestar names a missing parameter only in its message; we name it in `errors`.
_MISSING_PARAMETER = re.compile(r"^Missing required (?P<source>\w+) parameter '(?P<name>[^']+)'")

# Headers whose absence or malformed value has a problem of its own (the handlers declare
# them required, so Litestar refuses the request before they run).
HEADER_PROBLEMS = {"idempotency-key": "idempotency_key_required", "if-match": "if_match_required"}


def _header_problem(errors: list[FieldError]) -> str | None:
    for error in errors:
        source, _, name = error.field.partition(".")
        if source == "header" and name.lower() in HEADER_PROBLEMS:
            return HEADER_PROBLEMS[name.lower()]
    return None


def handle_validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    missing = _MISSING_PARAMETER.match(str(exc.detail or ""))
    if missing:
        name = missing["name"].lower() if missing["source"] == "header" else missing["name"]
        field = f"{missing['source']}.{name}"
        errors = [FieldError(field=field, message=f"The {missing['source']} parameter {name} is required")]
        return problem_response(request, _header_problem(errors) or "invalid_parameter", errors=errors)
    errors = _field_errors(exc)
    header_code = _header_problem(errors)
    if header_code == "idempotency_key_required":
        # A malformed key is as unusable as none (a malformed If-Match is invalid_parameter).
        return problem_response(request, header_code, errors=errors)
    in_body = any(not e.field.startswith(("query.", "path.", "header.", "cookie.")) for e in errors)
    if errors and not in_body:
        return problem_response(request, "invalid_parameter", errors=errors)
    return problem_response(request, "validation_failed", errors=errors or None)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status >= 500:
        log.error("server error", exc_info=exc)
        return problem_response(request, "internal_error" if status == 500 else "service_unavailable")
    if isinstance(exc.__cause__, SerializationException):
        return problem_response(
            request, "malformed_body", errors=[FieldError(field="body", message=str(exc.__cause__))]
        )
    code = _CODE_FOR_STATUS.get(status, "invalid_parameter")
    headers = dict(exc.headers or {})
    return problem_response(request, code, status=status, headers=headers)


def database_unavailable() -> AppError:
    """The 503 for a database that is down, restarting or stalled: the client retries."""
    return AppError("database_unavailable", headers={"retry-after": str(RETRY_AFTER_SECONDS)})


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if is_database_fault(exc):
        # Not a bug: PostgreSQL restarted, shut down or stalled. One line, no traceback.
        log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        return handle_app_error(request, database_unavailable())
    log.exception("unhandled error", exc_info=exc)
    return problem_response(request, "internal_error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    AppError: handle_app_error,
    ValidationException: handle_validation_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
