//! JSON hub-protocol records (0x1E-terminated), whole, split and round-tripped.
#![no_main]
use azure_signalr_rest::protocol::HubProtocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    azure_signalr_rest_fuzz::check_hub_protocol(HubProtocol::Json, data);
});
