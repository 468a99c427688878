// ADC energy and area models, selected by ChipSpec::cost.adc_model (see include/acim/chip.hpp
// for the list and include/acim/cost.hpp for the formulas). Published models disagree by up to
// 10x for one 8-bit ADC (FACTS.md), so none is built in as "the" answer.
#include <cmath>

#include "acim/cost.hpp"
#include "acim/error.hpp"

namespace acim {

double walden_adc_energy_pj(int bits, double fom_fj) {
  return fom_fj * 1e-3 * std::ldexp(1.0, bits);
}

double murmann_bound_adc_energy_pj(int bits, double sample_rate_hz) {
  const double sndr_db = 6.02 * bits + 1.76;
  const double fom_s_db = std::min(302.7 - 6.46 * std::log(sample_rate_hz), 180.1);
  return 1e12 / (2.0 * std::pow(10.0, (fom_s_db - sndr_db) / 10.0));
}

double fitted_adc_energy_pj(int bits, double supply_v) {
  const double ff = 100.0 * bits + 0.001 * std::pow(4.0, bits);  // fF
  return ff * 1e-3 * supply_v * supply_v;                        // fF * V^2 = fJ -> pJ
}

double fitted_adc_area_um2(int bits, int technology_nm) {
  const double at28 = std::pow(10.0, -0.0369 * bits + 1.206) * std::ldexp(1.0, bits);
  const double s = technology_nm / 28.0;
  return at28 * s * s;
}

AdcCost adc_cost(const ChipSpec& chip) {
  const int bits = chip.array.adc.bits;
  const std::string& m = chip.cost.adc_model;
  AdcCost c;
  c.model = m;
  c.energy_pj = chip.energy.adc_conversion_pj;
  c.area_um2 = chip.area.adc_um2;
  if (m == "spec") {
    c.source = "chip spec: energy.adc_conversion_pj, area.adc_um2";
  } else if (m == "walden") {
    c.energy_pj = walden_adc_energy_pj(bits, chip.cost.walden_fom_fj);
    c.source = "Walden FoM " + std::to_string(chip.cost.walden_fom_fj) + " fJ/step x 2^" +
               std::to_string(bits) + "; area from the spec";
  } else if (m == "murmann_bound") {
    if (!(chip.time.adc_conversion_ns > 0))
      throw Error(ErrorKind::invalid, "chip '" + chip.name + "': key 'cost.adc_model'",
                  "is murmann_bound, which needs the conversion rate, but time.adc_conversion_ns "
                  "is 0",
                  "set time.adc_conversion_ns > 0 or choose another adc_model");
    c.energy_pj = murmann_bound_adc_energy_pj(bits, 1e9 / chip.time.adc_conversion_ns);
    c.source = "Murmann ADC survey bound at 1/time.adc_conversion_ns; area from the spec";
  } else if (m == "fitted") {
    c.energy_pj = fitted_adc_energy_pj(bits, chip.supply_v);
    c.area_um2 = fitted_adc_area_um2(bits, chip.technology_nm);
    c.source = "ZigZag-IMC fitted SAR model (28 nm), area scaled to the node";
  } else if (m.rfind("table:", 0) == 0) {
    const std::string name = m.substr(6);
    const PublishedAdc* found = nullptr;
    for (const PublishedAdc& a : published_adcs())
      if (a.name == name) found = &a;
    if (found == nullptr || found->bits != bits)
      throw Error(ErrorKind::invalid, "chip '" + chip.name + "': key 'cost.adc_model'",
                  "names '" + name + "', not a published " + std::to_string(bits) +
                      "-bit ADC in acim's table",
                  "use a table entry of the array's ADC resolution (validate_chip_spec lists "
                  "them)");
    c.energy_pj = found->energy_pj;
    if (found->area_um2 > 0) c.area_um2 = found->area_um2;
    c.source = found->source;
  } else {
    throw Error(ErrorKind::invalid, "chip '" + chip.name + "': key 'cost.adc_model'",
                "is '" + m + "'; allowed one of: spec, walden, murmann_bound, fitted, table:NAME",
                "use one of the model names");
  }
  return c;
}

}  // namespace acim
