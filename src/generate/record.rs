//! The envelope every CloudTrail record shares (identity, time, source,
//! ids, category, TLS details), written around the service-specific
//! `requestParameters` / `responseElements` / `additionalEventData` that
//! each record template supplies. Members come in the order CloudTrail
//! writes them.

use super::json::Out;
use super::rng::Rng;
use super::world::{iso_time, Who, ACCOUNT, REGIONS};

/// Where the generated log starts: 2025-03-03T08:00:00Z.
const START_SECONDS: u64 = 1_740_988_800;
/// Mean gap between two records: 10 ms, a busy account (about 100 calls a
/// second); a million records span about three hours.
const MEAN_GAP_MS: u64 = 10;

/// What kind of event a record is; decides eventType, eventCategory and
/// managementEvent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Management,
    Data,
    SignIn,
}

/// How the record's requestID looks.
#[derive(Clone, Copy)]
pub(crate) enum RequestId {
    Uuid,
    /// S3's 16 uppercase characters.
    S3,
    /// Console sign-ins have none.
    Absent,
}

/// One entry of `resources`.
pub(crate) struct Resource<'a> {
    pub kind: &'static str,
    pub arn: &'a str,
}

/// The envelope of one record. Build it with [`Call::new`] and set the
/// fields that differ from the defaults.
pub(crate) struct Call<'a> {
    pub version: &'static str,
    pub source: &'static str,
    pub name: &'static str,
    pub who: Who,
    pub region: &'a str,
    pub ip: &'a str,
    pub agent: &'a str,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub read_only: bool,
    pub kind: Kind,
    pub request_id: RequestId,
    pub resources: &'a [Resource<'a>],
    pub shared_event: bool,
    pub vpc_endpoint: Option<&'a str>,
    /// The host name the client asked for, for `tlsDetails`; service
    /// calls made inside AWS have no TLS details.
    pub tls_host: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(
        source: &'static str,
        name: &'static str,
        who: Who,
        region: &'a str,
        ip: &'a str,
        agent: &'a str,
    ) -> Call<'a> {
        Call {
            version: "1.09",
            source,
            name,
            who,
            region,
            ip,
            agent,
            error_code: None,
            error_message: None,
            read_only: false,
            kind: Kind::Management,
            request_id: RequestId::Uuid,
            resources: &[],
            shared_event: false,
            vpc_endpoint: None,
            tls_host: None,
        }
    }

    /// A call a service makes on its own: the service is the source
    /// address and the user agent.
    pub(crate) fn by_service(
        source: &'static str,
        name: &'static str,
        service: &'static str,
        region: &'a str,
    ) -> Call<'a> {
        Call::new(
            source,
            name,
            Who::Service(service),
            region,
            service,
            service,
        )
    }

    pub(crate) fn error(&mut self, code: &'a str, message: &'a str) -> &mut Self {
        self.error_code = Some(code);
        self.error_message = Some(message);
        self
    }

    pub(crate) fn failed(&self) -> bool {
        self.error_code.is_some() || self.error_message.is_some()
    }
}

/// The generator's state: randomness, the clock and the text written so
/// far.
pub(crate) struct Gen {
    pub rng: Rng,
    pub out: Out,
    now_ms: u64,
    /// Planted records are by one of this many principals
    /// ([`super::Callers::Crowd`]).
    pub crowd: Option<u32>,
    /// A planted record is being written.
    pub planting: bool,
}

impl Gen {
    pub(crate) fn new(seed: u64) -> Gen {
        Gen {
            rng: Rng::new(seed),
            out: Out::with_capacity(1 << 17),
            now_ms: START_SECONDS * 1000,
            crowd: None,
            planting: false,
        }
    }

    /// Who a call is by: `who`, or while planting with a crowd, one of
    /// the crowd of the same kind (a user for a user, a role session for
    /// a role session). Without a crowd, no randomness is drawn, so the
    /// default log stays the same.
    pub(crate) fn caller(&mut self, who: Who) -> Who {
        let Some(size) = self.crowd.filter(|_| self.planting) else {
            return who;
        };
        let size = u64::from(size);
        match who {
            Who::User(_) => Who::CrowdUser(self.rng.below(size) as u32),
            // A few instances per role, as a fleet has.
            Who::Role { .. } => Who::CrowdRole {
                role: self.rng.below(size) as u32,
                session: self.rng.below(4) as u32,
            },
            other => other,
        }
    }

    /// Moves the clock on before a record: times only ever increase.
    pub(crate) fn tick(&mut self) {
        self.now_ms += self.rng.below(2 * MEAN_GAP_MS + 1);
    }

    pub(crate) fn now(&self) -> u64 {
        self.now_ms / 1000
    }

    pub(crate) fn region(&mut self) -> &'static str {
        self.rng.weighted(REGIONS)
    }

    /// An address inside the account's VPCs.
    pub(crate) fn private_ip(&mut self) -> String {
        let r = &mut self.rng;
        format!("10.{}.{}.{}", r.below(4), r.below(256), r.range(4, 254))
    }

    /// An address on the internet (documentation ranges, never a real
    /// host), sometimes IPv6.
    pub(crate) fn public_ip(&mut self) -> String {
        let r = &mut self.rng;
        if r.per_mille(100) {
            return format!("2001:db8:{:x}::{:x}", r.below(0x1000), r.range(1, 0xffff));
        }
        let net = r.pick(&["192.0.2", "198.51.100", "203.0.113"]);
        format!("{net}.{}", r.range(1, 254))
    }

    /// Writes one record: the envelope of `call` around the members
    /// `body` writes.
    pub(crate) fn emit(&mut self, call: &Call<'_>, body: impl FnOnce(&mut Out, &mut Rng)) {
        let who = self.caller(call.who);
        let now = self.now();
        let time = iso_time(now);
        // Sessions were created up to an hour before the call.
        let created = iso_time(now - 60 - self.rng.below(3600));
        let rng = &mut self.rng;
        self.out.elem_obj(|o| {
            o.str("eventVersion", call.version);
            o.obj("userIdentity", |o| who.write(o, rng, &created));
            o.str("eventTime", &time);
            o.str("eventSource", call.source)
                .str("eventName", call.name);
            o.str("awsRegion", call.region)
                .str("sourceIPAddress", call.ip);
            o.str("userAgent", call.agent);
            if let Some(code) = call.error_code {
                o.str("errorCode", code);
            }
            if let Some(message) = call.error_message {
                o.str("errorMessage", message);
            }
            body(o, rng);
            tail(o, rng, call);
        });
    }
}

/// The members after the service-specific ones.
fn tail(o: &mut Out, rng: &mut Rng, call: &Call<'_>) {
    match call.request_id {
        RequestId::Uuid => {
            o.str("requestID", &rng.uuid());
        }
        RequestId::S3 => {
            o.str("requestID", &rng.hex_upper(16));
        }
        RequestId::Absent => {}
    }
    o.str("eventID", &rng.uuid())
        .bool("readOnly", call.read_only);
    if !call.resources.is_empty() {
        o.arr("resources", |o| {
            for resource in call.resources {
                o.elem_obj(|o| {
                    // CloudTrail leaves the account out of S3 object ARNs.
                    if resource.kind != "AWS::S3::Object" {
                        o.str("accountId", ACCOUNT);
                    }
                    o.str("type", resource.kind).str("ARN", resource.arn);
                });
            }
        });
    }
    let event_type = match call.kind {
        Kind::SignIn => "AwsConsoleSignIn",
        Kind::Management | Kind::Data => "AwsApiCall",
    };
    o.str("eventType", event_type);
    o.bool("managementEvent", call.kind != Kind::Data);
    o.str("recipientAccountId", ACCOUNT);
    if call.shared_event {
        o.str("sharedEventID", &rng.uuid());
    }
    if let Some(endpoint) = call.vpc_endpoint {
        o.str("vpcEndpointId", endpoint);
        o.str("vpcEndpointAccountId", ACCOUNT);
    }
    o.str(
        "eventCategory",
        if call.kind == Kind::Data {
            "Data"
        } else {
            "Management"
        },
    );
    if let Some(host) = call.tls_host {
        o.obj("tlsDetails", |o| {
            let tls13 = rng.per_mille(800);
            o.str("tlsVersion", if tls13 { "TLSv1.3" } else { "TLSv1.2" });
            let suite = if tls13 {
                "TLS_AES_128_GCM_SHA256"
            } else {
                "ECDHE-RSA-AES128-GCM-SHA256"
            };
            o.str("cipherSuite", suite)
                .str("clientProvidedHostHeader", host);
        });
    }
}
