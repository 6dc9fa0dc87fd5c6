"""HTTP controllers, one per resource."""

from backend.api.alerts import AlertController
from backend.api.api_keys import ApiKeyController
from backend.api.assigned_feedback import AssignedFeedbackController
from backend.api.assignments import AssignmentController
from backend.api.auth import AuthController
from backend.api.commune_services import CommuneServiceByIdController, CommuneServiceController
from backend.api.communes import CommuneController
from backend.api.devices import DeviceController
from backend.api.feedback import FeedbackController, FrontFeedbackConfidentialController, MyFeedbackController
from backend.api.feedback_reports import FeedbackReportController
from backend.api.feedback_templates import FeedbackTemplateController
from backend.api.forward_review import ForwardReviewController
from backend.api.front import FrontController
from backend.api.health import HealthController
from backend.api.indicators import IndicatorController
from backend.api.integrations import IntegrationController
from backend.api.me import MeController
from backend.api.officials import OfficialController
from backend.api.oversight import OversightController
from backend.api.procedures import ProcedureController
from backend.api.protection_admin import ProtectionAdminController
from backend.api.provinces import ProvinceController
from backend.api.quarantine import QuarantineController
from backend.api.ratings import MyRatingController, RatingController
from backend.api.scorecards import ScorecardController
from backend.api.threshold_rules import CommuneThresholdRuleController, ThresholdRuleController
from backend.api.users import UserController

CONTROLLERS = [
    HealthController,
    AuthController,
    MeController,
    DeviceController,
    ProvinceController,
    CommuneController,
    ProcedureController,
    CommuneServiceController,
    CommuneServiceByIdController,
    AssignmentController,
    OfficialController,
    RatingController,
    MyRatingController,
    QuarantineController,
    UserController,
    ApiKeyController,
    IntegrationController,
    IndicatorController,
    AlertController,
    FeedbackController,
    MyFeedbackController,
    FrontFeedbackConfidentialController,
    FeedbackTemplateController,
    FeedbackReportController,
    ThresholdRuleController,
    CommuneThresholdRuleController,
    FrontController,
    ForwardReviewController,
    AssignedFeedbackController,
    ProtectionAdminController,
    OversightController,
    ScorecardController,
]
