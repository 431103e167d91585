#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard::adapters::soap {

enum class Version { V11, V12 };

inline constexpr std::string_view kEnvelope11 = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr std::string_view kEnvelope12 = "http://www.w3.org/2003/05/soap-envelope";

/// "1.1" or "1.2".
std::string_view versionName(Version version);
/// The media type an envelope of `version` travels as, with its charset.
std::string_view contentTypeFor(Version version);

/// What the bus needs of an envelope: its version, header blocks, and the payload (the first
/// element in the Body, as a document of its own) or the Fault.
struct Envelope {
  Version version = Version::V11;
  std::vector<std::pair<std::string, std::string>> header_blocks;  ///< local name, text (or XML)
  std::string payload;                                             ///< empty when the Body is empty
  std::string payload_name;                                        ///< the payload element's local name
  bool fault = false;
  std::string fault_code;    ///< as written: soap:Server, env:Receiver, ...
  std::string fault_string;  ///< 1.1 faultstring, 1.2 the first Reason/Text
};

/// Reads an envelope, by namespace URI whatever the prefixes. Throws MessageError when the
/// text is not XML the bus accepts (see parseXml) or not a SOAP 1.1 or 1.2 envelope.
Envelope readEnvelope(std::string_view xml);
/// Whether the text's root element is a SOAP envelope (of either version), cheaply.
bool looksLikeEnvelope(std::string_view xml);

/// An envelope around `payload` (one XML element, or empty); each header block is one
/// XML element. Throws MessageError when the payload is not XML the bus accepts.
std::string writeEnvelope(Version version, std::string_view payload, const std::vector<std::string>& header_blocks);
/// A Fault: `sender` (Client/Sender: the message is wrong) or not (Server/Receiver), with
/// `text` as faultstring/Reason and again in the detail as <sb:error>.
std::string writeFault(Version version, bool sender, std::string_view text);

/// Text escaped for XML character data and attribute values.
std::string escapeXml(std::string_view text);

}  // namespace switchboard::adapters::soap
