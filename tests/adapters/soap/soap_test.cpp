// soap: reading and writing envelopes of both versions, faults, WSDL addresses, and the
// request a message becomes.
#include <catch2/catch.hpp>

#include "soap_envelope.hpp"
#include "soap_inbound.hpp"
#include "soap_outbound.hpp"

using namespace switchboard;
using namespace switchboard::adapters::soap;

TEST_CASE("an envelope is read by namespace, whatever its prefixes", "[soap]") {
  const auto v11 = readEnvelope(
      R"(<x:Envelope xmlns:x="http://schemas.xmlsoap.org/soap/envelope/" xmlns:o="urn:orders">)"
      R"(<x:Header><t:Trace xmlns:t="urn:t">abc</t:Trace><t:Ctx xmlns:t="urn:t"><a>1</a></t:Ctx></x:Header>)"
      R"(<x:Body><o:GetOrder><o:id>7</o:id></o:GetOrder></x:Body></x:Envelope>)");
  CHECK(v11.version == Version::V11);
  CHECK(v11.payload == R"(<o:GetOrder xmlns:o="urn:orders"><o:id>7</o:id></o:GetOrder>)");
  CHECK(v11.payload_name == "GetOrder");
  REQUIRE(v11.header_blocks.size() == 2);
  CHECK(v11.header_blocks[0] == std::pair<std::string, std::string>{"Trace", "abc"});
  CHECK(v11.header_blocks[1].second == R"(<t:Ctx xmlns:t="urn:t"><a>1</a></t:Ctx>)");

  const auto v12 = readEnvelope(R"(<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Body>)"
                                R"(<GetOrder xmlns="urn:orders"><id>8</id></GetOrder></Body></Envelope>)");
  CHECK(v12.version == Version::V12);
  CHECK(v12.payload == R"(<GetOrder xmlns="urn:orders"><id>8</id></GetOrder>)");
  CHECK_FALSE(v12.fault);
}

TEST_CASE("faults of both versions are read and written", "[soap]") {
  for (const auto version : {Version::V11, Version::V12}) {
    const auto fault = readEnvelope(writeFault(version, true, "bad <order> & more"));
    CHECK(fault.version == version);
    REQUIRE(fault.fault);
    CHECK(fault.fault_code == (version == Version::V11 ? "soap:Client" : "soap:Sender"));
    CHECK(fault.fault_string == "bad <order> & more");
    CHECK(readEnvelope(writeFault(version, false, "x")).fault_code ==
          (version == Version::V11 ? "soap:Server" : "soap:Receiver"));
  }
  CHECK(writeFault(Version::V11, false, "down").find("<detail><sb:error xmlns:sb=\"urn:switchboard:error\">down") !=
        std::string::npos);
}

TEST_CASE("what is not an envelope is bad input with a clear text", "[soap]") {
  const auto failure = [](const std::string& text) {
    try {
      readEnvelope(text);
    } catch (const MessageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(failure("<order/>") == "not a SOAP envelope: the root element is <order>");
  CHECK(failure(R"(<Envelope xmlns="urn:other"><Body/></Envelope>)") ==
        "not a SOAP envelope: the root element is <Envelope> in namespace urn:other");
  CHECK(failure(R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>)") ==
        "SOAP envelope without a Body");
  CHECK(failure("<s:Envelope").starts_with("body is not valid XML"));
  CHECK(failure(R"(<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><s>&x;</s>)") ==
        "XML with a DOCTYPE is not accepted");
  std::string deep;
  for (int i = 0; i < 10'000; ++i) deep += "<a>";
  for (int i = 0; i < 10'000; ++i) deep += "</a>";
  CHECK(failure(deep) == "XML nested deeper than 256 levels is not accepted");
  CHECK(failure("<s:Envelope>\xff\xfe\xc3</s:Envelope>") == "body is not valid XML: invalid UTF-8 at offset 12");
  CHECK(failure("<a>\xed\xa0\x80</a>") == "body is not valid XML: invalid UTF-8 at offset 3");  // a surrogate
  CHECK(failure("<a>\xc0\xaf</a>") == "body is not valid XML: invalid UTF-8 at offset 3");      // overlong
  // Text in another declared encoding is converted by the parser, not refused.
  CHECK(failure("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xe9</a>") ==
        "not a SOAP envelope: the root element is <a>");
}

TEST_CASE("a payload is wrapped in an envelope of the chosen version", "[soap]") {
  const auto text = writeEnvelope(Version::V12, R"(<?xml version="1.0"?><p:Ping xmlns:p="urn:p">1</p:Ping>)",
                                  {R"(<h:Trace xmlns:h="urn:h">t</h:Trace>)"});
  CHECK(text == R"(<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header>)"
                R"(<h:Trace xmlns:h="urn:h">t</h:Trace></soap:Header><soap:Body><p:Ping xmlns:p="urn:p">1</p:Ping>)"
                R"(</soap:Body></soap:Envelope>)");
  CHECK(readEnvelope(text).payload == R"(<p:Ping xmlns:p="urn:p">1</p:Ping>)");
  CHECK_THROWS_AS(writeEnvelope(Version::V11, "{\"json\": true}", {}), MessageError);
}

TEST_CASE("the WSDL's service address becomes the one the client called", "[soap]") {
  const std::string wsdl =
      R"(<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/")"
      R"( xmlns:s12="http://schemas.xmlsoap.org/wsdl/soap12/"><service name="Orders">)"
      R"(<port name="P"><soap:address location="http://old:1/x"/></port>)"
      R"(<port name="Q"><s12:address location="http://old:1/x"/></port><port name="R"><address location="keep"/></port>)"
      R"(</service></definitions>)";
  const auto rewritten = wsdlFor(wsdl, "http://127.0.0.1:8080/orders");
  CHECK(rewritten.find("http://old:1/x") == std::string::npos);
  CHECK(rewritten.find(R"(<soap:address location="http://127.0.0.1:8080/orders")") != std::string::npos);
  CHECK(rewritten.find(R"(<s12:address location="http://127.0.0.1:8080/orders")") != std::string::npos);
  CHECK(rewritten.find(R"(<address location="keep")") != std::string::npos);  // not a SOAP address
}

TEST_CASE("a message becomes a SOAP request; an envelope is sent as it is", "[soap]") {
  OutboundOptions options;
  options.url = Template::compile("http://erp/soap", Scope{"r"});
  options.action = Template::compile("urn:${header.op}", Scope{"r"});
  options.header_blocks.push_back(Template::compile(R"(<t:Trace xmlns:t="urn:t">${message.id}</t:Trace>)", Scope{"r"}));
  options.ws_username = "erp";
  options.ws_password = "s<cret";
  Message message("m-1");
  message.headers().set("op", "CreateOrder");
  message.setBody(R"(<o:Order xmlns:o="urn:o"/>)", "application/xml");
  auto request = formatRequest(options, message);
  CHECK(request.url == "http://erp/soap");
  CHECK(request.headers ==
        std::vector<std::string>{"Content-Type: text/xml; charset=utf-8", "SOAPAction: \"urn:CreateOrder\""});
  const auto sent = readEnvelope(request.body);
  CHECK(sent.payload == R"(<o:Order xmlns:o="urn:o"/>)");
  REQUIRE(sent.header_blocks.size() == 2);
  CHECK(sent.header_blocks[0].second == "m-1");
  CHECK(sent.header_blocks[1].first == "Security");
  CHECK(sent.header_blocks[1].second.find("<wsse:Password Type=") != std::string::npos);
  CHECK(sent.header_blocks[1].second.find("s&lt;cret") != std::string::npos);

  options.version = Version::V12;
  request = formatRequest(options, message);
  CHECK(request.headers ==
        std::vector<std::string>{"Content-Type: application/soap+xml; charset=utf-8; action=\"urn:CreateOrder\""});
  CHECK(readEnvelope(request.body).version == Version::V12);

  message.setBody(request.body, "application/soap+xml");
  CHECK(formatRequest(options, message).body == message.body());

  // A rendered action must not add HTTP headers of its own.
  message.headers().set("op", "A\r\nX-Injected: yes");
  CHECK_THROWS_AS(formatRequest(options, message), MessageError);
  options.version = Version::V11;
  CHECK_THROWS_AS(formatRequest(options, message), MessageError);
}
